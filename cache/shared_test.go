package cache_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/cache"
	"github.com/spyglass-gateway/spyglass/cache/redistest"
)

func TestSharedAgainstARealRedis(t *testing.T) {
	r := redistest.StartT(t)
	s, err := cache.NewShared(cache.SharedConfig{Addr: r.Addr, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, ok := s.Get(ctx, "k"); ok {
		t.Fatal("a key never set was found")
	}
	s.Set(ctx, "k", []byte("v1"), time.Minute)
	if v, ok := s.Get(ctx, "k"); !ok || string(v) != "v1" {
		t.Fatalf("Get = %q, %v; want v1", v, ok)
	}
	s.Set(ctx, "short", []byte("x"), time.Second)
	time.Sleep(1100 * time.Millisecond)
	if _, ok := s.Get(ctx, "short"); ok {
		t.Fatal("a key past its TTL was found")
	}

	// Killed: a miss at once, never an error; back: found again.
	r.Stop()
	start := time.Now()
	for range 10 {
		if _, ok := s.Get(ctx, "k"); ok {
			t.Fatal("found a key in a Redis that is down")
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("10 Gets against a dead Redis took %v", d)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // the breaker's open window
	s.Set(ctx, "k", []byte("v2"), time.Minute)
	if v, ok := s.Get(ctx, "k"); !ok || string(v) != "v2" {
		t.Fatalf("after Redis came back: Get = %q, %v; want v2", v, ok)
	}
}

// TestSharedHangingRedis: a Redis that accepts connections and never
// answers costs each call at most its timeout, then the breaker answers at
// once.
func TestSharedHangingRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	s, err := cache.NewShared(cache.SharedConfig{Addr: ln.Addr().String(), Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var slow int
	for range 20 {
		start := time.Now()
		if _, ok := s.Get(context.Background(), "k"); ok {
			t.Fatal("a hanging Redis answered")
		}
		d := time.Since(start)
		if d > time.Second {
			t.Fatalf("a Get against a hanging Redis took %v (timeout 100ms)", d)
		}
		if d > 50*time.Millisecond {
			slow++
		}
	}
	if slow > 3 {
		t.Errorf("%d of 20 Gets waited for the timeout; the breaker should answer after 3", slow)
	}
}
