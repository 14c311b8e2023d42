package transport

import (
	"sync"
	"sync/atomic"
	"testing"
)

// interner turns header bytes into strings, reusing the strings of values it has seen:
// the same service, method and field names arrive in every request on a connection.
// It also carves small received commands and their fields from slabs. It belongs to
// one reader goroutine and needs no lock; a nil interner just copies and allocates.
type interner struct {
	m map[string]string
	// recent holds the strings of the last header by position: requests on a
	// connection tend to repeat their fields in the same order, and comparing with
	// the string last seen there is cheaper than hashing.
	recent [16]string
	// slab is where the extFields of small headers are carved from: one allocation
	// serves many headers, and a header kept alive keeps at most one slab.
	slab []Field
	// cmds and bodies are where received commands and their small bodies are carved
	// from, for the same reason: most requests and responses of an RPC are small. A
	// body takes only its own size (rounded to a word), not a fixed room.
	cmds   []Command
	bodies []byte
	// next is a command given back (Release, PoolOptions.ReuseRequests), taken for
	// the frame being read.
	next *Command
}

const (
	slabFields   = 64
	slabCommands = 16   // 1.5 KiB
	slabBodies   = 4096 // with the commands' slab, what one command kept alive can keep
	smallBody    = 256  // larger bodies are allocated alone
	// reusedBody bounds the bodies a command given back keeps for the frames read
	// into it: a realistic payload's, well under what MaxFrameMemory charges.
	reusedBody = 1 << 10
)

const (
	internMaxEntries = 1024
	internMaxLen     = 64
)

func (in *interner) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if in == nil || len(b) > internMaxLen {
		return string(b)
	}
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if in.m == nil {
		in.m = make(map[string]string)
	}
	if len(in.m) < internMaxEntries {
		in.m[s] = s
	}
	return s
}

// at interns b, the string at position i of a header.
func (in *interner) at(i int, b []byte) string {
	if in == nil || i >= len(in.recent) || len(b) > internMaxLen {
		return in.string(b)
	}
	if r := in.recent[i]; r == string(b) {
		return r
	}
	s := in.string(b)
	in.recent[i] = s
	return s
}

// fields returns room for n fields, copied from fs.
func (in *interner) fields(fs []Field) Fields {
	n := len(fs)
	if in == nil || n > slabFields/8 {
		return append(make(Fields, 0, n), fs...)
	}
	if r := in.reusable(); r != nil && cap(r.ExtFields) >= n {
		f := r.ExtFields[:n]
		r.ExtFields = nil // taken: the command may go on to take a body
		copy(f, fs)
		return f
	}
	if len(in.slab) < n {
		in.slab = make([]Field, slabFields)
	}
	f := Fields(in.slab[:n:n])
	copy(f, fs)
	in.slab = in.slab[n:]
	return f
}

// command returns a command with a body of n bytes (nil when n is 0): a command
// given back, with its body when that has room, or else commands and bodies of at
// most smallBody bytes carved from the slabs; a nil interner, or a larger body, is
// left to bigCommand.
func (in *interner) command(n int) *Command {
	if in == nil || n > reusedBody {
		return bigCommand(n)
	}
	if c := in.reusable(); c != nil {
		in.next = nil
		switch {
		case n > 0 && cap(c.Body) >= n:
			c.Body = c.Body[:n]
			return c
		case n > smallBody:
			c.Body = make([]byte, n) // given back in turn, it serves bodies this large
			return c
		}
		c.Body = nil
		return in.carveBody(c, n)
	}
	if n > smallBody {
		return bigCommand(n)
	}
	if len(in.cmds) == 0 {
		in.cmds = make([]Command, slabCommands)
	}
	c := &in.cmds[0]
	in.cmds = in.cmds[1:]
	return in.carveBody(c, n)
}

// carveBody gives c a body of n bytes from the slab.
func (in *interner) carveBody(c *Command, n int) *Command {
	if n > 0 {
		room := (n + 7) &^ 7
		if len(in.bodies) < room {
			in.bodies = make([]byte, slabBodies)
		}
		c.Body = in.bodies[:n:n]
		in.bodies = in.bodies[room:]
	}
	return c
}

// givenBack holds commands given back (Release, PoolOptions.ReuseRequests), for the
// readers to read new frames into. A sync.Pool, so that the garbage collector takes
// what stays unused; readers look in it only once something was given back.
var (
	givenBack sync.Pool
	reuseOn   atomic.Bool
)

// reusable returns the command given back that this reader reads its next frame
// into, or nil.
func (in *interner) reusable() *Command {
	if in.next == nil && reuseOn.Load() {
		in.next, _ = givenBack.Get().(*Command)
	}
	return in.next
}

// Release gives cmd, a command received from a peer, back to the transport, which
// reads later frames into its memory: once nothing is kept of it, not the command, its
// ExtFields or its Body (strings taken from them are safe). It spares the garbage
// collector most of what a command with a body of at most 1 KiB costs. Releasing a
// command still in use, or twice, corrupts what it holds.
func Release(cmd *Command) { giveBack(cmd) }

// poisonReused, in tests, overwrites what a request given back held, so that code
// that kept it sees garbage, and fails, instead of a later request's data.
var poisonReused = testing.Testing()

// giveBack lets readers reuse cmd, a command nothing keeps. Commands with a body
// larger than reusedBody are left to the garbage collector: they may be charged to
// MaxFrameMemory, and a reused command keeps its body.
func giveBack(cmd *Command) {
	if cap(cmd.Body) > reusedBody || cap(cmd.ExtFields) > slabFields/8 {
		return
	}
	body, ext := cmd.Body[:cap(cmd.Body)], cmd.ExtFields[:cap(cmd.ExtFields)]
	if poisonReused {
		for i := range body {
			body[i] = 0xEE
		}
	}
	clear(ext) // let go of the strings: whoever kept the fields finds them empty
	*cmd = Command{}
	cmd.Body, cmd.ExtFields = body[:0], ext[:0]
	givenBack.Put(cmd)
	if !reuseOn.Load() {
		reuseOn.Store(true)
	}
}
