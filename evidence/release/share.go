package release

import "github.com/opendems/opendems/evidence/api"

func (s *Service) shareRoutes() []api.Route { return nil }
