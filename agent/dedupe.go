package agent

import (
	"container/list"
	"github.com/plate-resort/plate-resort/contract"
	"sync"
	"time"
)

// dedupe remembers command ids so a repeated id (a QoS 1 redelivery, a
// retrying bridge, a double click) never runs twice: while the first runs,
// repeats join it; afterwards they get the stored reply.
type dedupe struct {
	mu     sync.Mutex
	window time.Duration
	size   int
	items  map[string]*list.Element
	order  *list.List // front = newest
}

type dedupeEntry struct {
	id, command string
	at          time.Time
	done        bool
	reply       contract.Reply
	joiners     []destination
}

func newDedupe(window time.Duration, size int) *dedupe {
	return &dedupe{window: window, size: size, items: map[string]*list.Element{}, order: list.New()}
}

// outcome of begin.
type seen int

const (
	seenNew     seen = iota // first time: run it
	seenRunning             // joined a running command
	seenDone                // finished before: reply is the stored reply
	seenOther               // the id belongs to a different command
)

// begin registers id for command. For seenDone it returns the stored reply;
// for seenOther the command the id was used for.
func (d *dedupe) begin(id, cmd string, dest destination, now time.Time) (seen, contract.Reply, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	if el, ok := d.items[id]; ok {
		e := el.Value.(*dedupeEntry)
		switch {
		case e.command != cmd:
			return seenOther, contract.Reply{}, e.command
		case e.done:
			return seenDone, e.reply, ""
		default:
			e.joiners = append(e.joiners, dest)
			return seenRunning, contract.Reply{}, ""
		}
	}
	d.items[id] = d.order.PushFront(&dedupeEntry{id: id, command: cmd, at: now})
	for el := d.order.Back(); el != nil && d.order.Len() > d.size; {
		prev := el.Prev()
		d.evict(el)
		el = prev
	}
	return seenNew, contract.Reply{}, ""
}

// finish stores the reply (or, when keep is false, forgets the id) and
// returns the destinations of joined repeats.
func (d *dedupe) finish(id string, r contract.Reply, keep bool, now time.Time) []destination {
	d.mu.Lock()
	defer d.mu.Unlock()
	el, ok := d.items[id]
	if !ok {
		return nil
	}
	e := el.Value.(*dedupeEntry)
	if !keep {
		j := e.joiners
		delete(d.items, id)
		d.order.Remove(el)
		return j
	}
	e.done, e.reply, e.at = true, r, now
	d.order.MoveToFront(el)
	j := e.joiners
	e.joiners = nil
	return j
}

func (d *dedupe) expire(now time.Time) {
	for el := d.order.Back(); el != nil; {
		e := el.Value.(*dedupeEntry)
		prev := el.Prev()
		if e.done && now.Sub(e.at) >= d.window {
			d.evict(el)
		}
		el = prev
	}
}

func (d *dedupe) evict(el *list.Element) {
	e := el.Value.(*dedupeEntry)
	if !e.done {
		// Never forget a running command; it is evicted once finished.
		return
	}
	delete(d.items, e.id)
	d.order.Remove(el)
}
