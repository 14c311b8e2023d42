module github.com/ringrpc/ringrpc

go 1.26

require go.uber.org/goleak v1.3.0

require github.com/goccy/go-json v0.10.5 // indirect
