package broker

import (
	"testing"

	"github.com/kanal-dev/kanal/internal/wire"
)

func TestLoginAndPublish(t *testing.T) {
	f := start(t, Options{})
	veh := f.login(t, "veh-1", "veh-1")
	ops := f.login(t, "ops", "ops:console")
	if code := ops.subscribe(t, wire.StatusTopic("+")); code != 1 {
		t.Fatalf("operator subscribe: %#02x", code)
	}
	if code := veh.publish(t, wire.StatusTopic("veh-1"), []byte("online")); code != 0 {
		t.Fatalf("vehicle publish: %#02x", code)
	}
	if p := ops.expect(t, wire.StatusTopic("veh-1"), 5e9); string(p.Payload) != "online" {
		t.Fatalf("payload %q", p.Payload)
	}
}
