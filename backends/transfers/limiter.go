package transfers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Defaults: MaxActive is Glance's [taskflow_executor] max_workers.
const (
	DefaultMaxActive  = 10
	DefaultPerProject = 5
	DefaultMaxQueued  = 100
)

// Options bound a Limiter. Every zero value means its default.
type Options struct {
	// MaxActive is how many transfers run at once. 0: 10, Glance's
	// [taskflow_executor] max_workers.
	MaxActive int
	// PerProject is how many transfers one project may have running or
	// waiting; one more is refused. 0: 5.
	PerProject int
	// MaxQueued is how many transfers may wait for a slot, all projects
	// together; one more is refused. 0: 100.
	MaxQueued int
}

// Errors a Do returns without running its transfer. A refusal wraps
// ErrProjectLimit or ErrQueueFull in a *LimitError.
var (
	ErrProjectLimit = errors.New("transfers: the project has as many transfers running or queued as it may")
	ErrQueueFull    = errors.New("transfers: the queue of transfers is full")
	ErrClosed       = errors.New("transfers: the gateway is shutting down")
)

// LimitError is a transfer refused because a bound is reached. Its text is
// Glance's LimitExceeded (the failed task's message when a project is over
// its image_count_uploading limit).
type LimitError struct {
	Project string
	// Limit is the bound reached; Usage what it counts, this transfer
	// included.
	Limit, Usage int
	// Reason is ErrProjectLimit or ErrQueueFull.
	Reason error
}

func (e *LimitError) Error() string {
	var body string
	if errors.Is(e.Reason, ErrQueueFull) {
		body = fmt.Sprintf("The gateway's queue of transfers is full (%d waiting); try again later", e.Limit)
	} else {
		// oslo_limit's ProjectOverLimit: the image being imported counts
		// already (delta 0).
		body = fmt.Sprintf("Project %s is over a limit for [Resource image_count_uploading is over limit of %d due to current usage %d and delta 0]", e.Project, e.Limit, e.Usage)
	}
	return "The request returned a 413 Request Entity Too Large. This generally means that rate limiting or a quota threshold was breached.\n\nThe response body:\n" + body
}

func (e *LimitError) Unwrap() error { return e.Reason }

// Limiter runs transfers within its bounds. It starts no goroutine of its
// own: a transfer runs on Do's caller. Safe for concurrent use.
type Limiter struct {
	opts Options

	mu       sync.Mutex
	closed   bool
	active   int
	queued   int
	projects map[string]*project // those with transfers running or waiting
	turn     []*project          // those with transfers waiting, in turn order

	refusedProject, refusedQueue atomic.Int64
}

// project is one project's transfers running or waiting.
type project struct {
	name    string
	count   int       // running + waiting
	waiting []*waiter // oldest first
}

// waiter is a transfer waiting for a slot: ready is closed when it has
// one (err nil) or never will (err says why).
type waiter struct {
	ready chan struct{}
	err   error
}

// New checks opts and returns a Limiter.
func New(opts Options) (*Limiter, error) {
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{{"MaxActive", &opts.MaxActive, DefaultMaxActive}, {"PerProject", &opts.PerProject, DefaultPerProject}, {"MaxQueued", &opts.MaxQueued, DefaultMaxQueued}} {
		if *f.v < 0 {
			return nil, fmt.Errorf("transfers: %s %d: must be >= 0 (0 means %d)", f.name, *f.v, f.def)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	return &Limiter{opts: opts, projects: map[string]*project{}}, nil
}

// Do runs transfer for project when a slot is free, waiting in turn for
// one, and returns its error. It returns without running transfer when a
// bound refuses it (a *LimitError), when ctx ends while it waits (ctx's
// error), or when Close is called before it has a slot (ErrClosed).
// transfer gets ctx.
func (l *Limiter) Do(ctx context.Context, projectID string, transfer func(ctx context.Context) error) error {
	p, w, err := l.admit(projectID)
	if err != nil {
		return err
	}
	if w != nil {
		select {
		case <-w.ready:
		case <-ctx.Done():
			switch granted, err := l.leave(p, w); {
			case granted: // meanwhile: the slot is ours, and goes back
				l.release(p)
			case err != nil: // Close came first
				return err
			}
			return ctx.Err()
		}
		if w.err != nil {
			return w.err
		}
	}
	defer l.release(p)
	return transfer(ctx)
}

// admit counts a transfer of projectID in: running (w nil) or waiting.
func (l *Limiter) admit(projectID string) (*project, *waiter, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, nil, ErrClosed
	}
	p := l.projects[projectID]
	if p == nil {
		p = &project{name: projectID}
	}
	if p.count >= l.opts.PerProject {
		l.refusedProject.Add(1)
		return nil, nil, &LimitError{Project: projectID, Limit: l.opts.PerProject, Usage: p.count + 1, Reason: ErrProjectLimit}
	}
	if l.active < l.opts.MaxActive && len(l.turn) == 0 {
		l.active++
		p.count++
		l.projects[projectID] = p
		return p, nil, nil
	}
	if l.queued >= l.opts.MaxQueued {
		l.refusedQueue.Add(1)
		return nil, nil, &LimitError{Project: projectID, Limit: l.opts.MaxQueued, Usage: l.queued + 1, Reason: ErrQueueFull}
	}
	w := &waiter{ready: make(chan struct{})}
	p.count++
	l.projects[projectID] = p
	if len(p.waiting) == 0 {
		l.turn = append(l.turn, p)
	}
	p.waiting = append(p.waiting, w)
	l.queued++
	return p, w, nil
}

// leave takes a waiter whose ctx ended out of the queue, unless it was
// given a slot first (granted) or Close refused it (err).
func (l *Limiter) leave(p *project, w *waiter) (granted bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-w.ready:
		return w.err == nil, w.err
	default:
	}
	for i, o := range p.waiting {
		if o == w {
			p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
			break
		}
	}
	if len(p.waiting) == 0 {
		l.dropTurn(p)
	}
	l.queued--
	l.uncount(p)
	return false, nil
}

// release ends a running transfer of p and hands its slot on.
func (l *Limiter) release(p *project) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active--
	l.uncount(p)
	l.grant()
}

// grant gives free slots to the waiting projects in turn, each its oldest
// transfer. Called with mu held.
func (l *Limiter) grant() {
	for l.active < l.opts.MaxActive && len(l.turn) > 0 {
		p := l.turn[0]
		w := p.waiting[0]
		p.waiting[0] = nil
		p.waiting = p.waiting[1:]
		l.turn = l.turn[1:]
		if len(p.waiting) > 0 {
			l.turn = append(l.turn, p) // to the back: the others first
		}
		l.queued--
		l.active++
		close(w.ready)
	}
}

func (l *Limiter) dropTurn(p *project) {
	for i, o := range l.turn {
		if o == p {
			l.turn = append(l.turn[:i], l.turn[i+1:]...)
			return
		}
	}
}

func (l *Limiter) uncount(p *project) {
	p.count--
	if p.count == 0 {
		delete(l.projects, p.name)
	}
}

// Close refuses every transfer from now on and ends the waiting ones with
// ErrClosed; the running ones go on (their callers cancel them: the gateway
// its copies, a region its imports).
func (l *Limiter) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, p := range l.turn {
		for _, w := range p.waiting {
			w.err = ErrClosed
			close(w.ready)
			l.queued--
			l.uncount(p)
		}
		p.waiting = nil
	}
	l.turn = nil
}

// Stats are a Limiter's counters.
type Stats struct {
	// Active transfers are running; Queued are waiting for a slot.
	Active, Queued int64
	// RefusedProject transfers were refused because their project had
	// PerProject already, RefusedQueue because MaxQueued were waiting.
	RefusedProject, RefusedQueue int64
}

// Stats returns the counters now.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	active, queued := l.active, l.queued
	l.mu.Unlock()
	return Stats{Active: int64(active), Queued: int64(queued), RefusedProject: l.refusedProject.Load(), RefusedQueue: l.refusedQueue.Load()}
}
