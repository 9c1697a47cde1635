package prefect

import "encoding/base64"

// basicAuth encodes "user:pass" exactly as Prefect's client does for
// PREFECT_API_AUTH_STRING (docs/prefect.md §11): the whole string, base64, no splitting, so a
// password containing ':' survives.
func basicAuth(authString string) string {
	return base64.StdEncoding.EncodeToString([]byte(authString))
}
