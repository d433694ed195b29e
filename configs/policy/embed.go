// Package policyconf holds the default casbin model and policy files and
// the default retention schedule, embedded so a fresh server runs with
// sensible rules before an agency edits its own copies. It only exposes
// bytes: package policy parses them and cmd decides which files to use.
package policyconf

import _ "embed"

// File names, as used in error messages and explanations when the embedded
// defaults are in force.
const (
	AccessModelName  = "configs/policy/access_model.conf"
	AccessPolicyName = "configs/policy/access_policy.csv"
	PurgeModelName   = "configs/policy/purge_model.conf"
	PurgePolicyName  = "configs/policy/purge_policy.csv"
	RetentionName    = "configs/policy/retention.yaml"
)

//go:embed access_model.conf
var accessModel string

// AccessModel returns the casbin model for access decisions. A fresh copy each call, so
// no caller can change what another reads.
func AccessModel() []byte { return []byte(accessModel) }

//go:embed access_policy.csv
var accessPolicy string

// AccessPolicy returns the default access policy (rows per role, unit, category). A fresh copy each call, so
// no caller can change what another reads.
func AccessPolicy() []byte { return []byte(accessPolicy) }

//go:embed purge_model.conf
var purgeModel string

// PurgeModel returns the casbin model for purge decisions. A fresh copy each call, so
// no caller can change what another reads.
func PurgeModel() []byte { return []byte(purgeModel) }

//go:embed purge_policy.csv
var purgePolicy string

// PurgePolicy returns the default purge policy. A fresh copy each call, so
// no caller can change what another reads.
func PurgePolicy() []byte { return []byte(purgePolicy) }

//go:embed retention.yaml
var retention string

// Retention returns the default retention schedule (YAML). A fresh copy each call, so
// no caller can change what another reads.
func Retention() []byte { return []byte(retention) }
