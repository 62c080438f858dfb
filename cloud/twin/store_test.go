package twin

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/cloud/store/storetest"
)

func runJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, js := storetest.Connect(t, storetest.RunServer(t, storetest.ServerOptions{}).ClientURL())
	return js
}

func TestStore(t *testing.T) {
	js := runJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := Open(ctx, js); err == nil {
		t.Error("Open found a bucket before Ensure")
	}
	s, err := Ensure(ctx, js, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(ctx, js, 1); err != nil {
		t.Fatalf("Ensure is not idempotent: %v", err)
	}
	if _, err := s.Get(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing twin: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "bad.id"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an invalid id: %v", err)
	}
	var all []*Twin
	for i := range 150 {
		tw := &Twin{Vehicle: fmt.Sprintf("v%03d", i), Seen: t0.Add(time.Duration(i) * time.Second)}
		tw.Cell.Set("479ddf5c", t0)
		all = append(all, tw)
	}
	if err := s.PutAll(ctx, all); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "v042")
	if err != nil || !got.Seen.Equal(all[42].Seen) || got.Cell.Value != "479ddf5c" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	n := 0
	if err := s.Load(ctx, func(*Twin) { n++ }); err != nil || n != len(all) {
		t.Fatalf("Load: %d twins, %v; want %d", n, err, len(all))
	}
	// Watch: the current twins, the end marker, then changes.
	wctx, wcancel := context.WithCancel(ctx)
	events := make(chan string, 1000)
	done := make(chan error, 1)
	go func() {
		done <- s.Watch(wctx, func(tw *Twin, gone bool) {
			switch {
			case tw == nil:
				events <- "end"
			case gone:
				events <- "gone " + tw.Vehicle
			default:
				events <- tw.Vehicle
			}
		})
	}()
	for i := 0; i < len(all); i++ {
		<-events
	}
	if e := <-events; e != "end" {
		t.Fatalf("after the current twins: %q, want the end marker", e)
	}
	if err := s.Put(ctx, &Twin{Vehicle: "new"}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-events:
		if e != "new" {
			t.Errorf("change: %q", e)
		}
	case <-ctx.Done():
		t.Fatal("no change seen")
	}
	wcancel()
	if err := <-done; err != nil {
		t.Errorf("Watch: %v", err)
	}
}

// TestStoreForeignEntries: entries that are not twins (damaged, or naming
// another vehicle than their key) are skipped by Load and Get says why;
// deletes reach watchers.
func TestStoreForeignEntries(t *testing.T) {
	js := runJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Ensure(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, "KANAL_TWINS")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"broken": "{", "other": `{"vehicle":"someone"}`, "good": `{"vehicle":"good"}`} {
		if _, err := kv.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := s.Load(ctx, func(tw *Twin) { got = append(got, tw.Vehicle) }); err != nil || len(got) != 1 || got[0] != "good" {
		t.Fatalf("Load: %v, %v", got, err)
	}
	for _, k := range []string{"broken", "other"} {
		if _, err := s.Get(ctx, k); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%s): %v", k, err)
		}
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	events := make(chan string, 10)
	go s.Watch(wctx, func(tw *Twin, gone bool) {
		if tw != nil && gone {
			events <- tw.Vehicle
		}
	})
	if err := kv.Delete(ctx, "good"); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-events:
		if v != "good" {
			t.Errorf("gone %q", v)
		}
	case <-ctx.Done():
		t.Fatal("no delete seen")
	}
}
