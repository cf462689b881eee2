package tcpproxy

// Direction is the way bytes go through the proxy.
type Direction int

const (
	// ToTarget is from the client to the target.
	ToTarget Direction = iota
	// FromTarget is from the target back to the client.
	FromTarget
)

// Fault is what an armed trigger does when it fires.
type Fault int

const (
	// CutLink cuts the whole link, as Cut: until Heal, nothing more is
	// forwarded on any connection; the rest of the matched chunk is held
	// and delivered after Heal.
	CutLink Fault = iota
	// ResetConn resets the one connection whose chunk matched (RST to both
	// sides); the rest of the chunk is dropped, other connections go on.
	ResetConn
)

// trigger is a one-shot fault armed by Arm.
type trigger struct {
	dir   Direction
	match func(conn int, chunk []byte) int
	fault Fault
	fired chan struct{}
}

// Arm sets a one-shot trigger, replacing one armed earlier that has not
// fired: the first chunk of bytes read in direction dir, on any
// connection, for which match returns n >= 0 has its first n bytes
// forwarded (all of it when n exceeds its length), and then fault strikes.
// match sees each connection's chunks in the order they are read, with the
// connection's number (from 1, in the order accepted; keep state per
// connection, as a message may span chunks); calls never overlap. The
// returned channel is closed when the trigger fires. It is the way to time
// a fault to a moment of a protocol: after a request was sent and before
// its answer, between the statements of a database transaction.
func (p *Proxy) Arm(dir Direction, match func(conn int, chunk []byte) int, fault Fault) <-chan struct{} {
	t := &trigger{dir: dir, match: match, fault: fault, fired: make(chan struct{})}
	p.tmu.Lock()
	p.trigger = t
	p.tmu.Unlock()
	return t.fired
}

// trip runs the armed trigger's match on a chunk read from l in direction
// dir and reports whether it fired, with how many bytes to forward first
// and the fault.
func (p *Proxy) trip(l *link, dir Direction, chunk []byte) (int, Fault, bool) {
	if len(chunk) == 0 {
		return 0, 0, false
	}
	p.tmu.Lock()
	defer p.tmu.Unlock()
	t := p.trigger
	if t == nil || t.dir != dir {
		return 0, 0, false
	}
	n := t.match(l.id, chunk)
	if n < 0 {
		return 0, 0, false
	}
	p.trigger = nil
	close(t.fired)
	return min(n, len(chunk)), t.fault, true
}
