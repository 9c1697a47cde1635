package bridge

import (
	"strings"
	"sync"
	"testing"
)

func TestCorrelatorDeliversEarlyReplyOnce(t *testing.T) {
	c := newCorrelator()
	key, ch := c.register()
	defer c.done(key)
	// A reply may arrive before the requester waits (QoS 1 publish returns
	// after PUBACK): it must wait in the channel, not be dropped.
	if !c.deliver([]byte(key), []byte(`{"a":1}`)) {
		t.Fatal("first reply not delivered")
	}
	if c.deliver([]byte(key), []byte(`{"a":2}`)) {
		t.Fatal("second reply for the same key delivered; it must be dropped without blocking")
	}
	if got := string(<-ch); got != `{"a":1}` {
		t.Fatalf("got %s", got)
	}
}

func TestCorrelatorRefusesForeignKeys(t *testing.T) {
	c := newCorrelator()
	key, _ := c.register()
	for _, corr := range [][]byte{nil, {}, []byte("nope"), []byte(strings.Repeat("x", 10_000)), []byte(key + "x"), []byte(key[:len(key)-1])} {
		if c.deliver(corr, []byte("{}")) {
			t.Errorf("delivered for correlation %q", corr)
		}
	}
	c.done(key)
	if c.deliver([]byte(key), []byte("{}")) {
		t.Error("delivered after done")
	}
	if c.waiting() != 0 {
		t.Errorf("waiting = %d", c.waiting())
	}
}

func TestCorrelatorConcurrent(t *testing.T) {
	c := newCorrelator()
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, ch := c.register()
			defer c.done(key)
			go c.deliver([]byte(key), []byte(key))
			if got := string(<-ch); got != key {
				t.Errorf("got reply %q for key %q", got, key)
			}
		}()
	}
	wg.Wait()
}
