package custody

// PublicKey is the checkpoint verification key, in the forms verifiers use.
type PublicKey struct {
	Algorithm    string `json:"algorithm"`
	KeyID        string `json:"key_id"`
	PublicKey    string `json:"public_key"` // base64
	PublicKeyHex string `json:"public_key_hex"`
	PEM          string `json:"pem"`
}

// ExportQuery is GET /api/v1/custody/export's parameters (one scope).
type ExportQuery struct {
	Evidence    string `form:"evidence" doc:"one item's chain"`
	Case        string `form:"case" doc:"the chains of a case's items"`
	All         string `form:"all" doc:"every chain (present, or true)"`
	Checkpoints string `form:"checkpoints" doc:"latest (default) or all"`
}
