package export

import (
	"fmt"
	"log/slog"
	"time"
)

// progress logs how a long job advances: blocks done, the rate, and the
// time left at that rate, at most every progressEvery.
type progress struct {
	log        *slog.Logger
	msg        string
	attrs      []any
	now        func() time.Time
	start      time.Time
	last       time.Time
	from       uint64 // blocks done when this run started
	total      uint64
	everyPrint time.Duration
}

const progressEvery = 5 * time.Second

func newProgress(log *slog.Logger, msg string, attrs []any, from, total uint64, now func() time.Time) *progress {
	t := now()
	return &progress{log: log, msg: msg, attrs: attrs, now: now, start: t, last: t, from: from, total: total, everyPrint: progressEvery}
}

func (p *progress) update(done uint64) {
	t := p.now()
	if t.Sub(p.last) < p.everyPrint {
		return
	}
	p.last = t
	p.log.Info(p.msg+" progress", append(p.attrs, "blocks", done, "of", p.total, "rate", Rate(done-p.from, t.Sub(p.start)),
		"left", Left(done-p.from, p.total-done, t.Sub(p.start)))...)
}

func (p *progress) finish(done uint64) {
	el := p.now().Sub(p.start)
	p.log.Info(p.msg+" done", append(p.attrs, "blocks", done, "rate", Rate(done-p.from, el), "elapsed", el.Round(time.Millisecond))...)
}

// Rate formats n blocks done in el as blocks per second.
func Rate(n uint64, el time.Duration) string {
	if el <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f blocks/s", float64(n)/el.Seconds())
}

// Left estimates the time for left more blocks when done took el.
func Left(done, left uint64, el time.Duration) string {
	if done == 0 || el <= 0 {
		return "unknown"
	}
	return (time.Duration(float64(el) * float64(left) / float64(done))).Round(time.Second).String()
}
