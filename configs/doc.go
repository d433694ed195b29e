// Package configs holds the server's configuration: the Config struct, its
// embedded defaults (default.yaml), the loader that layers a YAML file and
// OPENDEMS_* environment variables over them, and Validate, which names the
// bad field and why. Only cmd/* calls Load; everything else receives plain
// structs. The casbin model and policy live in configs/policy (package policyconf) and the
// retention schedule in configs/policy/retention.yaml.
//
// Layering, lowest to highest: embedded default.yaml → the --config file →
// environment. Every field can be set from the environment as
// OPENDEMS_<SECTION>_<FIELD> (upper-case yaml names), e.g.
// OPENDEMS_DATABASE_URL or OPENDEMS_STORAGE_S3_SECRET_KEY.
package configs
