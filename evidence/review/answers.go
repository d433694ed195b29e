package review

// The JSON bodies and answers of review's routes. Each handler writes
// exactly its route's declared type (api.Route.Out).

// CaseList is cases the caller may read.
type CaseList struct {
	Cases []Case `json:"cases"`
}

// CaseRef names a case to add an item to.
type CaseRef struct {
	CaseID string `json:"case_id"`
}

// ViewRecorded says whether a playback start was recorded (once per
// session and item).
type ViewRecorded struct {
	Recorded bool `json:"recorded"`
}

// MarkerList is an item's markers.
type MarkerList struct {
	Markers []Marker `json:"markers"`
}

// Tags is an item's tags (a body to replace them, and the answer).
type Tags struct {
	Tags []string `json:"tags"`
}

// FlagBody flags or unflags an item.
type FlagBody struct {
	Flagged *bool `json:"flagged"`
}

// Flagged answers the item's flag as it now stands.
type Flagged struct {
	Flagged bool `json:"flagged"`
}
