module github.com/ringrpc/ringrpc

go 1.26.0

require go.uber.org/goleak v1.3.0

require (
	github.com/goccy/go-json v0.10.5 // indirect
	golang.org/x/mod v0.41.0 // indirect
	golang.org/x/sync v0.23.0 // indirect
	golang.org/x/tools v0.51.0 // indirect
)
