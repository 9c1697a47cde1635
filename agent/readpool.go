package agent

import "context"

// readPool runs read commands on at most maxReads long-lived goroutines.
// A goroutine per read started with a small stack that grew (was copied)
// in every serial transaction and was thrown away after it (pprof of an
// agent answering get_position: runtime.newstack under go.bug.st/serial's
// Read, about 4% of its CPU, plus the goroutine's start and exit). Workers
// keep their stacks; an idle one takes the next read straight from the
// dispatcher.
type readPool struct {
	jobs  chan *job     // unbuffered: a send is taken by an idle worker
	slots chan struct{} // one per worker alive, at most maxReads
	run   func(*job)
}

func newReadPool(max int, run func(*job)) *readPool {
	return &readPool{jobs: make(chan *job), slots: make(chan struct{}, max), run: run}
}

// submit hands j to an idle worker, or starts one while fewer than max
// exist, or waits for one to be free. It returns false, without running
// j, when ctx ends first. Workers end with ctx.
func (p *readPool) submit(ctx context.Context, j *job) bool {
	select {
	case p.jobs <- j:
		return true
	default:
	}
	select {
	case p.jobs <- j:
	case p.slots <- struct{}{}:
		go p.worker(ctx, j)
	case <-ctx.Done():
		return false
	}
	return true
}

func (p *readPool) worker(ctx context.Context, j *job) {
	defer func() { <-p.slots }()
	for {
		p.run(j)
		select {
		case j = <-p.jobs:
		case <-ctx.Done():
			return
		}
	}
}
