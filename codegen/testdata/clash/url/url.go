// Package url shares its name with net/url.
package url

// URL is not net/url's.
type URL struct{ Host string }
