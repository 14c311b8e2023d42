package registry

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Node metadata and the messages nodes exchange, in a small versioned binary format.
//
// metadata (at most 512 bytes, memberlist's limit):
//
//	byte  version (metaVersion)
//	str16 RPC address ("" for a node that serves nothing)
//	u64   catalog version
//	u16   number of services in the catalog
//	u64   ring digest: 0 from this version on, which readers take as unknown (ring
//	      digests travel in digest messages, below); a node of an earlier version
//	      writes its digest here
//	byte  flags (metaLeaving: the node is leaving on purpose; metaNotServing: its
//	      server is NOT_SERVING)
//
// The last two fields came later without a version change: older readers stop
// after the service count, and a reader meeting metadata without them takes a
// digest of 0 (unknown) and no flags.
//
// catalog message (sent over memberlist's reliable TCP channel and in push/pull state):
//
//	byte  kind (msgCatalog) | byte version | str16 node name | str16 RPC address
//	u64   catalog version | u32 count | count × str16 service name
//	[u32 count | count × str16 service name]: the services that are NOT_SERVING
//
// The last part came later without a version change: it is written only when a
// service is NOT_SERVING, older readers ignore it, and a catalog without it has
// every service serving.
//
// catalog request: byte kind (msgCatalogRequest) | byte version | str16 node name |
// u8 IP length | IP | u16 gossip port (where to send the catalog)
//
// digest message (gossiped as a memberlist user broadcast, which fills only the room
// that membership messages leave in a gossip packet):
//
//	byte kind (msgDigest) | byte version | str16 node name | u64 sequence | u64 digest |
//	u8 IP length | IP | u16 gossip port (where the node's gossip listens)
//
// The sequence grows with each digest a node publishes: the highest one known is
// the node's current digest. A member that does not know the node yet meets it
// at that address.
//
// push/pull state: a catalog message, its list of services NOT_SERVING always
// written (maybe empty), then the ring digests the sender knows, itself included:
//
//	u32 count | count × (str16 node name | u64 sequence | u64 digest)
//
// Older readers take the catalog and ignore the rest; a state without the digests
// (from an older node) carries none.
const (
	metaVersion       = 1
	msgCatalog        = 'C'
	msgCatalogRequest = 'R'
	msgDigest         = 'D'
	wireVersion       = 1
	maxMetaSize       = 512 // memberlist.MetaMaxSize
	maxServices       = 1 << 16
	maxAddrLen        = 255
	metaLeaving       = 1 << 0
	metaNotServing    = 1 << 1 // the server said NOT_SERVING: out of every ring, still a member
)

var errShort = errors.New("truncated")

// nodeMeta is what a node advertises in its memberlist metadata.
type nodeMeta struct {
	rpcAddr  string
	version  uint64
	services int
	digest   uint64 // 0: not known
	flags    byte
}

func appendStr16(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func encodeMeta(m nodeMeta) ([]byte, error) {
	if len(m.rpcAddr) > maxAddrLen {
		return nil, fmt.Errorf("registry: RPC address %q is too long to advertise", m.rpcAddr)
	}
	b := []byte{metaVersion}
	b = appendStr16(b, m.rpcAddr)
	b = binary.BigEndian.AppendUint64(b, m.version)
	b = binary.BigEndian.AppendUint16(b, uint16(min(m.services, maxServices-1)))
	b = binary.BigEndian.AppendUint64(b, m.digest)
	b = append(b, m.flags)
	if len(b) > maxMetaSize {
		return nil, fmt.Errorf("registry: node metadata of %d bytes exceeds memberlist's %d", len(b), maxMetaSize)
	}
	return b, nil
}

// reader reads the wire format with bounds checks; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) next(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = errShort
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) u8() byte {
	if s := r.next(1); s != nil {
		return s[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if s := r.next(2); s != nil {
		return binary.BigEndian.Uint16(s)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if s := r.next(4); s != nil {
		return binary.BigEndian.Uint32(s)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if s := r.next(8); s != nil {
		return binary.BigEndian.Uint64(s)
	}
	return 0
}

func (r *reader) str16() string { return string(r.next(int(r.u16()))) }

func decodeMeta(b []byte) (nodeMeta, error) {
	r := reader{b: b}
	if v := r.u8(); r.err == nil && v != metaVersion {
		return nodeMeta{}, fmt.Errorf("registry: node metadata version %d is not %d: upgrade this node", v, metaVersion)
	}
	m := nodeMeta{rpcAddr: r.str16(), version: r.u64(), services: int(r.u16())}
	if r.err == nil && len(r.b) > 0 {
		m.digest, m.flags = r.u64(), r.u8()
	}
	if r.err == nil && len(m.rpcAddr) > maxAddrLen {
		return nodeMeta{}, fmt.Errorf("registry: node metadata: RPC address of %d bytes", len(m.rpcAddr))
	}
	if r.err != nil {
		return nodeMeta{}, fmt.Errorf("registry: node metadata of %d bytes: %w", len(b), r.err)
	}
	return m, nil
}

// catalog is the full list of services a node exports.
type catalog struct {
	node     string
	rpcAddr  string
	version  uint64
	services []string
	// notServing lists the services whose health status is not SERVING, sorted: the
	// node is out of their rings.
	notServing []string
}

func encodeCatalog(c catalog) []byte {
	b := []byte{msgCatalog, wireVersion}
	b = appendStr16(b, c.node)
	b = appendStr16(b, c.rpcAddr)
	b = binary.BigEndian.AppendUint64(b, c.version)
	b = appendStrList(b, c.services)
	if len(c.notServing) > 0 {
		b = appendStrList(b, c.notServing)
	}
	return b
}

// appendStrList appends a count and the strings.
func appendStrList(b []byte, list []string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(list)))
	for _, s := range list {
		b = appendStr16(b, s)
	}
	return b
}

// strList reads what appendStrList wrote, at most maxServices strings.
func (r *reader) strList(what string) ([]string, error) {
	n := r.u32()
	if r.err == nil && (n > maxServices || int(n)*2 > len(r.b)) {
		return nil, fmt.Errorf("registry: catalog claims %d %s in %d bytes", n, what, len(r.b))
	}
	var list []string
	for range n {
		list = append(list, r.str16())
	}
	return list, nil
}

func decodeCatalog(b []byte) (catalog, error) {
	r := reader{b: b}
	return r.catalog()
}

// catalog reads a catalog message.
func (r *reader) catalog() (catalog, error) {
	size := len(r.b)
	if k, v := r.u8(), r.u8(); r.err == nil && (k != msgCatalog || v != wireVersion) {
		return catalog{}, fmt.Errorf("registry: not a version %d catalog", wireVersion)
	}
	c := catalog{node: r.str16(), rpcAddr: r.str16(), version: r.u64()}
	var err error
	if c.services, err = r.strList("services"); err != nil {
		return catalog{}, err
	}
	if r.err == nil && len(r.b) > 0 {
		if c.notServing, err = r.strList("services not serving"); err != nil {
			return catalog{}, err
		}
	}
	if r.err != nil {
		return catalog{}, fmt.Errorf("registry: catalog of %d bytes: %w", size, r.err)
	}
	return c, nil
}

// ringDigest is a node's digest over its rings, as it published it.
type ringDigest struct {
	node   string
	seq    uint64 // grows with each digest the node publishes
	digest uint64
}

// digestSize is the encoded size of a ringDigest without its node name.
const digestSize = 2 + 8 + 8

// digestMsg is a ring digest as gossiped, with the address of its node's gossip.
type digestMsg struct {
	ringDigest
	ip   []byte
	port uint16
}

func encodeDigest(m digestMsg) []byte {
	return appendGossipAddr(appendDigest([]byte{msgDigest, wireVersion}, m.ringDigest), m.ip, m.port)
}

// appendGossipAddr appends a node's gossip address: u8 IP length, IP, u16 port.
func appendGossipAddr(b, ip []byte, port uint16) []byte {
	b = append(b, byte(len(ip)))
	b = append(b, ip...)
	return binary.BigEndian.AppendUint16(b, port)
}

// gossipAddr reads what appendGossipAddr wrote; an IP of neither 4 nor 16 bytes is
// an error.
func (r *reader) gossipAddr() ([]byte, uint16) {
	ip := append([]byte(nil), r.next(int(r.u8()))...)
	port := r.u16()
	if r.err == nil && len(ip) != 4 && len(ip) != 16 {
		r.err = fmt.Errorf("a gossip address with a %d-byte IP", len(ip))
	}
	return ip, port
}

func appendDigest(b []byte, d ringDigest) []byte {
	b = appendStr16(b, d.node)
	b = binary.BigEndian.AppendUint64(b, d.seq)
	return binary.BigEndian.AppendUint64(b, d.digest)
}

func (r *reader) digest() ringDigest {
	return ringDigest{node: r.str16(), seq: r.u64(), digest: r.u64()}
}

func decodeDigest(b []byte) (digestMsg, error) {
	r := reader{b: b}
	if k, v := r.u8(), r.u8(); r.err == nil && (k != msgDigest || v != wireVersion) {
		return digestMsg{}, fmt.Errorf("registry: not a version %d ring digest", wireVersion)
	}
	m := digestMsg{ringDigest: r.digest()}
	m.ip, m.port = r.gossipAddr()
	if r.err != nil {
		return digestMsg{}, fmt.Errorf("registry: ring digest of %d bytes: %w", len(b), r.err)
	}
	return m, nil
}

// encodeState is this node's push/pull state: its catalog and the ring digests it
// knows.
func encodeState(c catalog, digests []ringDigest) []byte {
	b := encodeCatalog(c)
	if len(c.notServing) == 0 {
		b = appendStrList(b, nil) // so that the digests are not read as this list
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(digests)))
	for _, d := range digests {
		b = appendDigest(b, d)
	}
	return b
}

// decodeState reads what encodeState wrote, or a bare catalog.
func decodeState(b []byte) (catalog, []ringDigest, error) {
	r := reader{b: b}
	c, err := r.catalog()
	if err != nil || len(r.b) == 0 {
		return c, nil, err
	}
	n := r.u32()
	if r.err == nil && int64(n)*digestSize > int64(len(r.b)) {
		return catalog{}, nil, fmt.Errorf("registry: push/pull state claims %d ring digests in %d bytes", n, len(r.b))
	}
	digests := make([]ringDigest, 0, n)
	for range n {
		digests = append(digests, r.digest())
	}
	if r.err != nil {
		return catalog{}, nil, fmt.Errorf("registry: push/pull state of %d bytes: %w", len(b), r.err)
	}
	return c, digests, nil
}

// catalogRequest asks a node for its catalog, saying where to send it: the requester
// may be too new for the other node to know it yet.
type catalogRequest struct {
	node string
	ip   []byte
	port uint16
}

func encodeCatalogRequest(q catalogRequest) []byte {
	return appendGossipAddr(appendStr16([]byte{msgCatalogRequest, wireVersion}, q.node), q.ip, q.port)
}

func decodeCatalogRequest(b []byte) (catalogRequest, error) {
	r := reader{b: b}
	if k, v := r.u8(), r.u8(); r.err == nil && (k != msgCatalogRequest || v != wireVersion) {
		return catalogRequest{}, fmt.Errorf("registry: not a version %d catalog request", wireVersion)
	}
	q := catalogRequest{node: r.str16()}
	q.ip, q.port = r.gossipAddr()
	if r.err != nil {
		return catalogRequest{}, fmt.Errorf("registry: catalog request: %w", r.err)
	}
	return q, nil
}
