package transport

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
}

const (
	slabFields   = 64
	slabCommands = 16   // 1.5 KiB
	slabBodies   = 4096 // with the commands' slab, what one command kept alive can keep
	smallBody    = 256  // larger bodies are allocated alone
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
	if len(in.slab) < n {
		in.slab = make([]Field, slabFields)
	}
	f := Fields(in.slab[:n:n])
	copy(f, fs)
	in.slab = in.slab[n:]
	return f
}

// command returns a command with a body of n bytes (nil when n is 0). Commands, and
// bodies of at most smallBody bytes, are carved from the slabs; a nil interner, or a
// larger body, is left to bigCommand.
func (in *interner) command(n int) *Command {
	if in == nil || n > smallBody {
		return bigCommand(n)
	}
	if len(in.cmds) == 0 {
		in.cmds = make([]Command, slabCommands)
	}
	c := &in.cmds[0]
	in.cmds = in.cmds[1:]
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
