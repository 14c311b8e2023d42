package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/otelringrpc"
	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
)

// config is what the flags say.
type config struct {
	name, rpc, gossip, http string
	seeds                   []string
	preset                  registry.Preset
	log                     *slog.Logger
}

// provider is a running provider: its server, its membership and its metrics.
type provider struct {
	server   *rpc.Server
	svc      *hello.Service
	reg      *registry.Registry
	meters   *sdkmetric.MeterProvider
	web      *http.Server
	webDone  chan error
	rpcAddr  net.Addr
	httpAddr net.Addr
}

// start serves Hello and World, joins the cluster and serves /metrics and the debug
// page.
func start(ctx context.Context, cfg config) (*provider, error) {
	p := &provider{}
	meters, handler, err := newMetrics()
	if err != nil {
		return nil, err
	}
	p.meters = meters
	inst, err := otelringrpc.New(otelringrpc.Options{MeterProvider: meters, Propagator: propagation.TraceContext{}})
	if err != nil {
		return nil, p.abort(err)
	}
	if err := p.serveRPC(cfg, inst); err != nil {
		return nil, p.abort(err)
	}
	host, port, err := splitHostPort(cfg.gossip)
	if err != nil {
		return nil, p.abort(err)
	}
	p.reg, err = registry.Join(ctx, registry.Options{
		NodeName: cfg.name, BindAddr: host, BindPort: port, Seeds: cfg.seeds,
		Preset: cfg.preset, Server: p.server, RPCAddr: p.rpcAddr.String(), Logger: cfg.log,
	})
	if err != nil {
		return nil, p.abort(err)
	}
	p.svc.Name = p.reg.Name() // the name Join chose when -name is empty
	if err := observe(inst, p.server, p.reg); err != nil {
		return nil, p.abort(err)
	}
	if err := p.serveHTTP(cfg.http, handler); err != nil {
		return nil, p.abort(err)
	}
	return p, nil
}

// newMetrics returns a meter provider whose metrics the handler serves in the
// Prometheus text format.
func newMetrics() (*sdkmetric.MeterProvider, http.Handler, error) {
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, nil, fmt.Errorf("the Prometheus exporter: %w", err)
	}
	return sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter)), promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

func (p *provider) serveRPC(cfg config, inst *otelringrpc.Instrumentation) error {
	ln, err := net.Listen("tcp", cfg.rpc)
	if err != nil {
		return err
	}
	opts := rpc.ServerOptions{Logger: cfg.log}
	inst.Server(&opts)
	p.server = rpc.NewServer(opts)
	svc := &hello.Service{Name: cfg.name, Log: cfg.log}
	if err := hello.RegisterHelloServer(p.server, svc); err != nil {
		ln.Close()
		return err
	}
	if err := hello.RegisterWorldServer(p.server, svc); err != nil {
		ln.Close()
		return err
	}
	p.svc, p.rpcAddr = svc, ln.Addr()
	go p.server.Serve(ln)
	return nil
}

func observe(inst *otelringrpc.Instrumentation, s *rpc.Server, r *registry.Registry) error {
	if _, err := inst.ObserveServer(s); err != nil {
		return err
	}
	_, err := inst.ObserveRegistry(r)
	return err
}

// serveHTTP serves /metrics and the debug page: both show the cluster, so addr is an
// internal address.
func (p *provider) serveHTTP(addr string, metrics http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("-http %q: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	mux.Handle("/debug/ringrpc", p.reg.DebugHandler()) // the cluster as this node sees it
	p.web = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	p.httpAddr = ln.Addr()
	p.webDone = make(chan error, 1)
	go func() { p.webDone <- p.web.Serve(ln) }()
	return nil
}

// shutdown leaves the cluster gracefully, then stops serving /metrics.
func (p *provider) shutdown(ctx context.Context) error {
	err := p.reg.Shutdown(ctx)
	return errors.Join(err, p.stopHTTP(ctx), p.meters.Shutdown(ctx))
}

func (p *provider) stopHTTP(ctx context.Context) error {
	if p.web == nil {
		return nil
	}
	err := p.web.Shutdown(ctx)
	if serr := <-p.webDone; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// abort undoes what start did before it failed with err.
func (p *provider) abort(err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if p.reg != nil {
		p.reg.Close()
	}
	if p.server != nil {
		p.server.Close()
	}
	return errors.Join(err, p.stopHTTP(ctx), p.meters.Shutdown(ctx))
}
