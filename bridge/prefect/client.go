package prefect

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Defaults chosen for a worker on a small LAN box: a call that takes longer than
// DefaultTimeout is stuck, and no legitimate response we read is near
// DefaultMaxResponseBytes (a 200-run poll is a few hundred KiB).
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 8 << 20
	DefaultUserAgent        = "plate-resort-bridge"
)

// Config says how to reach a Prefect API. APIKey and AuthString are secrets:
// they are sent as headers only and never appear in errors, logs or %v output.
type Config struct {
	// APIURL is the PREFECT_API_URL value, e.g. http://127.0.0.1:4200/api or
	// https://api.prefect.cloud/api/accounts/<a>/workspaces/<w>.
	APIURL string
	// APIKey is sent as "Authorization: Bearer" (Prefect Cloud, docs/prefect.md §11).
	APIKey string
	// AuthString "user:pass" is sent as HTTP Basic auth (self-hosted server
	// with PREFECT_SERVER_API_AUTH_STRING, docs/prefect.md §11). APIKey wins if both are set,
	// as in Prefect's own client.
	AuthString string
	// HTTPClient defaults to a client with no overall timeout (Timeout below is
	// applied per attempt through the request context).
	HTTPClient *http.Client
	// UserAgent must not impersonate prefect/3.4.11+ (docs/prefect.md §11): the server would
	// then expect concurrency-lease renewal from us.
	UserAgent string
	// Timeout bounds one HTTP attempt. Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxResponseBytes bounds a response body. Zero means DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// Retry tunes retries of idempotent calls. Zero value means DefaultRetry.
	Retry RetryPolicy
	// Observe, when set, is called after every HTTP attempt with its
	// endpoint class (EndpointClass), the HTTP status (0 when no answer
	// came: connection refused, timeout) and its duration. The bridge
	// feeds its metrics and readiness with it; it must return at once.
	Observe func(endpoint string, status int, d time.Duration)
}

// String redacts secrets so a Config can be logged.
func (c Config) String() string {
	return fmt.Sprintf("prefect.Config{APIURL:%q APIKey:%s AuthString:%s UserAgent:%q Timeout:%s}",
		c.APIURL, redact(c.APIKey), redact(c.AuthString), c.UserAgent, c.Timeout)
}

// GoString keeps %#v from printing the secrets.
func (c Config) GoString() string { return c.String() }

func redact(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// FromEnv builds a Config from the variables Prefect users already set:
// PREFECT_API_URL, PREFECT_API_KEY and PREFECT_API_AUTH_STRING.
func FromEnv() Config {
	return ConfigFromEnviron(os.Environ())
}

// ConfigFromEnviron is FromEnv over an explicit "KEY=value" list (for tests and
// for callers that filter the environment).
func ConfigFromEnviron(environ []string) Config {
	var c Config
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		switch k {
		case "PREFECT_API_URL":
			c.APIURL = v
		case "PREFECT_API_KEY":
			c.APIKey = v
		case "PREFECT_API_AUTH_STRING":
			c.AuthString = v
		}
	}
	return c
}

// Client talks to one Prefect API. It is safe for concurrent use.
type Client struct {
	base     *url.URL // ends without a slash; paths are appended
	authz    string   // full Authorization header value, or ""
	wsToken  string   // token for the events websocket auth message (docs/prefect.md §10)
	hc       *http.Client
	ua       string
	timeout  time.Duration
	maxBytes int64
	retry    RetryPolicy
	observe  func(endpoint string, status int, d time.Duration)
}

// New validates cfg and returns a Client. It does not contact the server; call
// Health for that.
func New(cfg Config) (*Client, error) {
	if cfg.APIURL == "" {
		return nil, errors.New("prefect: no API URL: set PREFECT_API_URL (for example http://127.0.0.1:4200/api)")
	}
	u, err := url.Parse(strings.TrimRight(cfg.APIURL, "/"))
	if err != nil {
		// url errors echo the input; the URL is not a secret unless it holds
		// userinfo, which we refuse below, but keep the message generic anyway.
		return nil, errors.New("prefect: PREFECT_API_URL is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("prefect: PREFECT_API_URL must start with http:// or https://, got scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("prefect: PREFECT_API_URL has no host")
	}
	if u.User != nil {
		return nil, errors.New("prefect: PREFECT_API_URL must not contain credentials; use PREFECT_API_AUTH_STRING or PREFECT_API_KEY")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("prefect: PREFECT_API_URL must not have a query or fragment")
	}
	c := &Client{
		base:     u,
		hc:       cfg.HTTPClient,
		ua:       cfg.UserAgent,
		timeout:  cfg.Timeout,
		maxBytes: cfg.MaxResponseBytes,
		retry:    cfg.Retry.withDefaults(),
		observe:  cfg.Observe,
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	if c.ua == "" {
		c.ua = DefaultUserAgent
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxBytes <= 0 {
		c.maxBytes = DefaultMaxResponseBytes
	}
	switch {
	case cfg.APIKey != "":
		c.authz = "Bearer " + cfg.APIKey
		c.wsToken = cfg.APIKey
	case cfg.AuthString != "":
		if !strings.Contains(cfg.AuthString, ":") {
			return nil, errors.New(`prefect: PREFECT_API_AUTH_STRING must look like "user:password"`)
		}
		c.authz = "Basic " + basicAuth(cfg.AuthString)
		c.wsToken = cfg.AuthString
	}
	return c, nil
}

// APIURL returns the base URL (no credentials), for logs.
func (c *Client) APIURL() string { return c.base.String() }

// String is safe to log.
func (c *Client) String() string { return "prefect.Client(" + c.base.String() + ")" }
