package transport

import (
	"crypto/tls"
	"log/slog"
	"time"
)

// Defaults of the options; each field's comment names the one it falls back to.
const (
	DefaultTimeout        = 3 * time.Second
	DefaultConnectTimeout = 3 * time.Second
	DefaultIdleTimeout    = 120 * time.Second
	DefaultWriteTimeout   = 30 * time.Second
	// DefaultClientAsyncPermits and DefaultClientOnewayPermits are RocketMQ's client
	// semaphore sizes; DefaultServerAsyncPermits and DefaultServerOnewayPermits its
	// server's, which bound requests the server sends to its clients. Sync calls,
	// which RocketMQ does not bound, get as many permits as async ones.
	DefaultClientSyncPermits   = 65535
	DefaultClientAsyncPermits  = 65535
	DefaultClientOnewayPermits = 65535
	DefaultServerSyncPermits   = 64
	DefaultServerAsyncPermits  = 64
	DefaultServerOnewayPermits = 256
	DefaultWorkers             = 64
	DefaultQueueSize           = 10000
)

// permitDefaults are the permit counts of one side, client or server.
type permitDefaults struct{ sync, async, oneway int }

var (
	clientPermits = permitDefaults{DefaultClientSyncPermits, DefaultClientAsyncPermits, DefaultClientOnewayPermits}
	serverPermits = permitDefaults{DefaultServerSyncPermits, DefaultServerAsyncPermits, DefaultServerOnewayPermits}
)

// A call without a deadline of its own fails with a timeout between Timeout and
// Timeout plus 2*Timeout/reapDivisor (at most 2*maxReapEvery, at least 2ms) after it
// was sent: the reaper ticks every Timeout/reapDivisor, but not more often than every
// millisecond, and a call counts two ticks beyond its timeout because the tick it
// first sees may be one the reaper was late for.
const (
	reapDivisor  = 32
	maxReapEvery = 125 * time.Millisecond
)

// closeFlushLimit bounds how long Client.Close and Server.Shutdown wait for a
// connection to write what is queued before they close it anyway: a healthy peer takes
// megabytes in milliseconds, so only a peer that stops reading hits it.
const closeFlushLimit = time.Second

// maxBufferedWrite is how many encoded bytes a connection queues for its writer before
// senders wait: it bounds memory when a peer stops reading.
const maxBufferedWrite = 4 << 20

// ConnOptions configures the connections of a Client or a Server. The zero value works.
type ConnOptions struct {
	// JSONHeaders sends request headers in the JSON serialization instead of the
	// binary ROCKETMQ one (the default: smaller and faster). Responses always use the
	// serialization of their request; received frames may use either.
	JSONHeaders bool
	// MaxFrameSize bounds a frame, length prefix included, in both directions; a
	// larger incoming frame closes the connection. Default DefaultMaxFrameSize.
	MaxFrameSize int
	// Version is the version field of every command sent. Default DefaultVersion.
	Version int32
	// Timeout bounds a call whose context has no deadline. Such a call fails between
	// Timeout and Timeout plus a sixteenth of it (2ms under a Timeout of 32ms, at
	// most 250ms) after it was sent:
	// a per-connection reaper times them out, as RocketMQ's response table scan does,
	// so calls need no timer each. Default DefaultTimeout.
	Timeout time.Duration
	// IdleTimeout closes a connection that has neither read nor written a frame for
	// this long, unless calls are pending on it or requests are being handled: a long
	// call is never cut. An inbound stream does not count as a request being handled:
	// its opener pings while it waits. The heartbeat, not this, finds a dead peer that
	// calls wait for. A frame must also come whole within IdleTimeout of its first bytes,
	// whatever is pending. Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// WriteTimeout bounds the time the peer takes no byte of what is written to it: a
	// peer that stops reading for this long loses the connection, at most twice this
	// long after the last byte it took, while a slow peer that keeps reading keeps it
	// however long a write takes. Over TLS, which cannot resume a write that timed out,
	// each 16 KiB record must be taken within it. Default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// SyncPermits bounds sync calls in flight, AsyncPermits async calls in flight,
	// OnewayPermits oneway calls not yet written; each is shared by all the
	// connections of a Client or a Server. A call waits for a permit until its
	// deadline, then fails with ErrTooManyRequests. Defaults: the Default*Permits
	// constants of the client or server side.
	SyncPermits   int
	AsyncPermits  int
	OnewayPermits int
	// TLS, when set, runs every connection over TLS with this configuration; set
	// ClientAuth and ClientCAs on the server side for mutual TLS.
	TLS *tls.Config
	// Hooks run around every request and response, in order (RocketMQ's RPCHook).
	Hooks []Hook
	// Logger receives connection errors. Default slog.Default().
	Logger *slog.Logger

	// HeartbeatInterval and HeartbeatTimeout find a peer that stopped answering (a
	// host that died or a link that went down without a reset): a connection on which
	// calls wait and that has read nothing for HeartbeatInterval pings the peer, and
	// closes with ErrConnectionLost, failing its calls at once, when no frame at all
	// arrives within HeartbeatTimeout after the ping. Defaults DefaultHeartbeatInterval
	// and DefaultHeartbeatTimeout; a negative HeartbeatInterval turns pings off.
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration

	// What one peer, or all of them, may cost (docs/OPERATIONS.md, "Overload and
	// hostile peers").

	// MaxConnInflight bounds the requests of one connection handed to processors and
	// not yet answered; MaxInflight bounds them across all the connections of a Server
	// or Client, shared fairly: a connection may have MaxInflight divided by the number
	// of connections with requests in flight, and at most MaxConnInflight. A connection
	// may always have 4, or MaxConnInflight when it is lower: requests in flight in all
	// stay under MaxInflight plus 4 per connection. A connection at its share reads nothing more from its peer until a
	// quarter of them are answered: further requests wait in TCP, and none is answered
	// SYSTEM_BUSY for it. Requests that a PoolOptions.Select gives a pool made by
	// NewPool count toward neither: that pool's Workers and QueueSize bound them, and a
	// full queue answers SYSTEM_BUSY. Defaults DefaultMaxConnInflight and
	// DefaultMaxInflight.
	MaxConnInflight int
	MaxInflight     int
	// MaxUnreadOutput bounds the responses a connection has queued that its peer has
	// not yet taken, in bytes. Past the bound the connection reads no more requests
	// from that peer until it takes them; a processor's response is always queued at
	// once, so the bytes queued stay under this bound plus MaxConnInflight responses.
	// When the peer takes nothing for WriteTimeout, the connection is closed and the
	// log says why. On Linux and macOS the socket also takes at most this many bytes it
	// has not sent (TCP_NOTSENT_LOWAT), so that the kernel does not queue megabytes of
	// responses for a peer that reads nothing. Default DefaultMaxUnreadOutput.
	MaxUnreadOutput int
	// MaxFrameMemory bounds, for a whole Server or Client, the bytes of received frame
	// bodies of 4 KiB or more, and of headers over 1 KiB (their size plus 32 bytes per
	// extFields entry): those being read, charged as their pieces arrive, and those of
	// requests not yet answered. A connection whose next piece does not fit waits,
	// reading nothing else, for at most IdleTimeout, and is then closed with a logged
	// reason; one frame at a time may finish beyond the bound, by at most its own
	// charge, so that frames that each hold part of the budget never wait for each
	// other. Default DefaultMaxFrameMemory.
	MaxFrameMemory int64

	// MaxConnStreams bounds the streams open on one connection in each direction, and
	// MaxStreams those open on all the connections of a Server or Client together, in
	// each direction: a peer's opening request beyond either is answered SYSTEM_BUSY
	// before anything else of the stream, so that its caller may try elsewhere, and
	// OpenStream fails with ErrTooManyRequests. Each stream a peer opens runs its
	// processor on a goroutine of its own. Defaults DefaultMaxConnStreams and
	// DefaultMaxStreams.
	MaxConnStreams int
	MaxStreams     int
	// MaxStreamMemory bounds, for a whole Server or Client, the bytes of stream
	// messages received and not yet taken by their consumers (Stream.Recv), each
	// counted as its body plus what its allocation adds. A connection whose next
	// message does not fit reads nothing else until consumers take enough, for at most
	// IdleTimeout, and is then closed with a logged reason; a message larger than the
	// budget is read alone. Default DefaultMaxStreamMemory.
	MaxStreamMemory int64
	// StreamWindow is the messages one side of a stream buffers before its consumer
	// takes them, the credit it grants its peer: a stream holds at most this many
	// received messages in each direction, and its producer waits beyond. Default
	// DefaultStreamWindow; at most 1<<20.
	StreamWindow int
}

// ClientOptions configures a Client. The zero value works.
type ClientOptions struct {
	ConnOptions
	// ConnectTimeout bounds dialling a connection. Default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// PoolSize is the number of connections per address, used round-robin.
	// Default 1: one long-lived connection per address, as RocketMQ keeps.
	PoolSize int
}

// ServerOptions configures a Server. The zero value works.
type ServerOptions struct {
	ConnOptions

	// MaxConns bounds the connections a Server keeps open; a connection accepted
	// beyond it is closed at once, and the log says so (at most once a second).
	// Default DefaultMaxConns.
	MaxConns int
}

// PoolOptions sizes the worker pool of one processor. The zero value works.
type PoolOptions struct {
	// Workers bounds the processors running at once: the number of worker goroutines,
	// in whose place a connection's reader may run a request alone on its connection
	// (docs/OPERATIONS.md, "Quiet connections"). Default DefaultWorkers.
	Workers int
	// QueueSize is the number of requests waiting for a worker; when it is full,
	// requests are answered SYSTEM_BUSY. A pool holds Workers plus QueueSize requests
	// in all: those that free workers are about to take do not count against it.
	// Default DefaultQueueSize.
	QueueSize int

	// Select, when set, picks for each request of the processor the pool that runs
	// it: a Pool made by NewPool on the same Server, or nil for the processor's own
	// workers. It runs on the connection's reader before the request is queued, so it
	// must be quick and must not block; a pool of another owner counts as nil, and so
	// does a panic, which is logged. NewPool ignores it. The requests it gives a Pool
	// count toward neither ConnOptions.MaxConnInflight nor MaxInflight: the Pool's
	// Workers and QueueSize bound them, so that a Pool whose processors block stops no
	// connection from reading the other pools' requests. Default: the processor's own
	// workers run every request.
	Select func(req *Command) *Pool

	// ReuseRequests says that the pool's processor, and the Hooks, keep nothing of a
	// request once Process returned: not the command, its ExtFields or its Body (strings
	// taken from them are safe). The transport then reuses the memory of requests
	// whose bodies are at most 1 KiB for later ones, which spares the garbage collector
	// most of what a request costs.
	// A processor that answers later with WriteResponse must leave it false. In test
	// binaries a body given back is overwritten, so that code keeping one fails
	// visibly. rpc.Server sets it. Default false.
	ReuseRequests bool
}

// connConfig is the resolved, immutable configuration shared by an owner's connections.
type connConfig struct {
	serialize     SerializeType
	maxFrame      int
	version       int32
	timeout       time.Duration
	reapEvery     time.Duration // how often a connection looks for expired calls
	reapTicks     int64         // reapEvery ticks in timeout, rounded up
	idle          time.Duration
	writeTimeout  time.Duration
	closeFlush    time.Duration // closeFlushLimit; shorter in tests
	tls           *tls.Config
	hooks         []Hook
	log           *slog.Logger
	syncPermits   *semaphore
	asyncPermits  *semaphore
	onewayPermits *semaphore

	hb heartbeat

	maxConnInflight int32
	maxInflight     int64
	maxUnread       int
	frames          *byteBudget // MaxFrameMemory, shared by the owner's connections
	io              *ioCounters // bytes read and written, for Stats
	maxStreams      int         // MaxConnStreams
	streamWindow    int32
	streams         *streamLimits    // MaxStreams and MaxStreamMemory, shared by the owner's connections
	streamMemWaits  func(*Conn)      // tests: called when a reader waits for stream memory
	bodyRead        func(got, n int) // tests: called after each chunk of a large body
	readerWaits     func(*Conn)      // tests: called when a reader stops reading
}

func newConnConfig(o ConnOptions, permits permitDefaults) *connConfig {
	cfg := &connConfig{
		serialize:    SerializeRocketMQ,
		maxFrame:     orDefault(o.MaxFrameSize, DefaultMaxFrameSize),
		version:      o.Version,
		timeout:      orDefault(o.Timeout, DefaultTimeout),
		idle:         orDefault(o.IdleTimeout, DefaultIdleTimeout),
		writeTimeout: orDefault(o.WriteTimeout, DefaultWriteTimeout),
		closeFlush:   closeFlushLimit,
		tls:          o.TLS,
		hooks:        append([]Hook(nil), o.Hooks...),
		log:          o.Logger,
		hb:           newHeartbeat(o),
	}
	if o.JSONHeaders {
		cfg.serialize = SerializeJSON
	}
	cfg.reapEvery = min(max(cfg.timeout/reapDivisor, time.Millisecond), maxReapEvery)
	cfg.reapTicks = int64((cfg.timeout + cfg.reapEvery - 1) / cfg.reapEvery)
	if cfg.version == 0 {
		cfg.version = DefaultVersion
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	cfg.syncPermits = newSemaphore(orDefault(o.SyncPermits, permits.sync))
	cfg.asyncPermits = newSemaphore(orDefault(o.AsyncPermits, permits.async))
	cfg.onewayPermits = newSemaphore(orDefault(o.OnewayPermits, permits.oneway))
	cfg.maxConnInflight = int32(min(orDefault(o.MaxConnInflight, DefaultMaxConnInflight), 1<<30))
	cfg.maxInflight = int64(orDefault(o.MaxInflight, DefaultMaxInflight))
	cfg.maxUnread = orDefault(o.MaxUnreadOutput, DefaultMaxUnreadOutput)
	cfg.frames = newByteBudget(orDefault(o.MaxFrameMemory, DefaultMaxFrameMemory), "a frame",
		"large frames (transport.ConnOptions.MaxFrameMemory): raise it, or send fewer large frames at once")
	cfg.io = new(ioCounters)
	cfg.maxStreams = orDefault(o.MaxConnStreams, DefaultMaxConnStreams)
	cfg.streams = newStreamLimits(orDefault(o.MaxStreams, DefaultMaxStreams), orDefault(o.MaxStreamMemory, DefaultMaxStreamMemory))
	cfg.streamWindow = int32(min(orDefault(o.StreamWindow, DefaultStreamWindow), maxStreamWindow))
	return cfg
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
