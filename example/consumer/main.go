// Command consumer joins a ringrpc cluster and calls the Hello and World services
// through the generated clients, printing which provider served each call.
//
//	consumer -seed 127.0.0.1:7946
//
// With -demo it reads commands from standard input, one per line, for the demo
// runner: "basic" (sync, async, oneway and keyed calls), "keys" (one keyed call per
// user), "wait N" (until the ring holds N providers) and "quit".
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ringrpc/ringrpc/example/hello"
	"github.com/ringrpc/ringrpc/registry"
	"github.com/ringrpc/ringrpc/rpc"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

// consumer holds the generated clients.
type consumer struct {
	reg    *registry.Registry
	hello  hello.Hello
	async  hello.HelloAsync
	world  hello.World
	failed int
}

func run() error {
	seeds := flag.String("seed", "", "comma-separated gossip addresses of cluster members (required)")
	name := flag.String("name", "consumer", "node name, unique in the cluster")
	want := flag.Int("providers", 1, "wait until this many providers of Hello are known")
	demo := flag.Bool("demo", false, "read demo commands from standard input")
	flag.Parse()
	if *seeds == "" {
		return fmt.Errorf("-seed is required: pass the gossip address a provider printed")
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reg, err := registry.Join(ctx, registry.Options{NodeName: *name, Preset: registry.Fast, Seeds: strings.Split(*seeds, ","), Logger: quiet})
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		reg.Shutdown(ctx) // leave, so that providers stop gossiping with us
	}()
	client, err := rpc.NewClient(rpc.ClientOptions{Resolver: reg, Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer client.Close()
	c := &consumer{reg: reg, hello: hello.NewHelloClient(client), async: hello.NewHelloAsyncClient(client), world: hello.NewWorldClient(client)}
	if err := c.waitProviders(*want); err != nil {
		return err
	}
	fmt.Println("READY")
	if !*demo {
		c.basic()
		return c.result()
	}
	return c.commands(os.Stdin)
}

func (c *consumer) commands(in io.Reader) error {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		c.failed = 0
		switch cmd {
		case "basic":
			c.basic()
		case "keys":
			c.keys()
		case "wait":
			n, _ := strconv.Atoi(arg)
			if err := c.waitProviders(n); err != nil {
				return err
			}
		case "quit":
			return nil
		default:
			return fmt.Errorf("unknown command %q", cmd)
		}
		fmt.Printf("DONE %s failed=%d\n", cmd, c.failed)
	}
	return sc.Err()
}

func (c *consumer) result() error {
	if c.failed > 0 {
		return fmt.Errorf("%d calls failed", c.failed)
	}
	return nil
}

// waitProviders blocks until the ring of Hello holds n providers.
func (c *consumer) waitProviders(n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	err := c.reg.WaitFor(ctx, func(s registry.Snapshot) bool { return len(s.Services[hello.HelloServiceName]) == n })
	if err != nil {
		return fmt.Errorf("the ring of Hello never held %d providers: %w", n, err)
	}
	var names []string
	for _, o := range c.reg.Snapshot().Services[hello.HelloServiceName] {
		names = append(names, fmt.Sprintf("%s %.0f%%", o.Node, 100*o.Share))
	}
	fmt.Printf("ring of Hello: %s (after %v)\n", strings.Join(names, ", "), time.Since(start).Round(time.Millisecond))
	return nil
}

// served returns a context that records the provider's "served-by" reply metadata.
func served() (context.Context, *rpc.Metadata) {
	md := new(rpc.Metadata)
	return rpc.WithReplyMetadata(context.Background(), md), md
}

func (c *consumer) report(kind, call string, result any, err error, md *rpc.Metadata) {
	if err != nil {
		c.failed++
		fmt.Printf("%-6s %-28s FAILED: %v\n", kind, call, err)
		return
	}
	fmt.Printf("%-6s %-28s = %-28v served by %s\n", kind, call, result, (*md)["served-by"])
}

func (c *consumer) basic() {
	ctx, md := served()
	s, err := c.hello.SayHello(ctx, "a", "b")
	c.report("sync", `SayHello("a", "b")`, fmt.Sprintf("%q", s), err, md)
	ctx, md = served()
	n, err := c.hello.SayHelloInteger(ctx, 1, 2)
	c.report("sync", "SayHelloInteger(1, 2)", n, err, md)

	type pending struct {
		f  *rpc.Future[string]
		md *rpc.Metadata
		a  string
	}
	var futures []pending
	for _, a := range []string{"x", "y", "z"} {
		ctx, md := served()
		futures = append(futures, pending{c.async.SayHello(ctx, a, "async"), md, a})
	}
	for _, p := range futures {
		s, err := p.f.Wait(context.Background())
		c.report("async", fmt.Sprintf("SayHello(%q, \"async\")", p.a), fmt.Sprintf("%q", s), err, p.md)
	}

	c.world.SayWorld(context.Background(), "a", "b")
	fmt.Printf("%-6s %-28s sent; a provider logs \"world a b\"\n", "oneway", `SayWorld("a", "b")`)
	c.keys()
}

// keys greets a few users twice: each user lands on the same provider both times.
func (c *consumer) keys() {
	for i := 1; i <= 6; i++ {
		user := fmt.Sprintf("user-%d", i)
		var by []string
		for range 2 {
			ctx, md := served()
			_, err := c.hello.Greet(ctx, user)
			if err != nil {
				c.failed++
				fmt.Printf("%-6s Greet(%q) FAILED: %v\n", "keyed", user, err)
				continue
			}
			by = append(by, (*md)["served-by"])
		}
		fmt.Printf("%-6s %-28s served by %s\n", "keyed", fmt.Sprintf("Greet(%q)", user), strings.Join(by, ", "))
	}
}
