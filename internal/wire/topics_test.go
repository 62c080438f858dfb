package wire

import "testing"

func TestNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{BatchTopic("veh-1"), "kanal/v1/vehicles/veh-1/batch"},
		{StatusTopic("veh-1"), "kanal/v1/vehicles/veh-1/status"},
		{CommandTopic("veh-1"), "kanal/v1/vehicles/veh-1/cmd"},
		{NoticeTopic("47a1"), "kanal/v1/cells/47a1/notice"},
		{AlertTopic("fog", "47a1"), "kanal/v1/alerts/fog/47a1"},
		{BatchSubject("veh-1"), "kanal.batches.veh-1"},
		{DeadSubject("malformed"), "kanal.dead.malformed"},
		{AlertSubject("fog", "47a1"), "kanal.alerts.fog.47a1"},
		{FleetAlertSubject("warning", "veh-1"), "kanal.fleet.alerts.warning.veh-1"},
		{StatusSubject("veh-1"), "kanal.status.veh-1"},
		{NoticeSubject("47a1"), "kanal.notices.47a1"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestVehicleOf(t *testing.T) {
	for _, tc := range []struct {
		topic, vehicle, leaf string
		ok                   bool
	}{
		{"kanal/v1/vehicles/veh-1/batch", "veh-1", "batch", true},
		{"kanal/v1/vehicles/veh-1/status", "veh-1", "status", true},
		{"kanal/v1/vehicles/veh-1/batch/x", "", "", false},
		{"kanal/v1/vehicles//batch", "", "", false},
		{"kanal/v1/vehicles/veh-1", "", "", false},
		{"kanal/v1/vehicles/veh-1/", "", "", false},
		{"kanal/v1/cells/x/notice", "", "", false},
	} {
		v, l, ok := VehicleOf(tc.topic)
		if v != tc.vehicle || l != tc.leaf || ok != tc.ok {
			t.Errorf("VehicleOf(%q) = %q, %q, %v", tc.topic, v, l, ok)
		}
	}
	if c, ok := CellOf("kanal/v1/cells/47a1/notice"); !ok || c != "47a1" {
		t.Errorf("CellOf = %q, %v", c, ok)
	}
	for _, bad := range []string{"kanal/v1/cells//notice", "kanal/v1/cells/47a1/other", "kanal/v1/cells/47a1"} {
		if _, ok := CellOf(bad); ok {
			t.Errorf("CellOf(%q) accepted", bad)
		}
	}
}

func TestSubjectToken(t *testing.T) {
	for _, tc := range []struct {
		subject, prefix, want string
		ok                    bool
	}{
		{"kanal.batches.veh-1", "kanal.batches.", "veh-1", true},
		{"kanal.status.veh-1", "kanal.status.", "veh-1", true},
		{"kanal.batches.", "kanal.batches.", "", false},
		{"kanal.batches.a.b", "kanal.batches.", "", false},
		{"kanal.status.veh-1", "kanal.batches.", "", false},
	} {
		got, ok := SubjectToken(tc.subject, tc.prefix)
		if got != tc.want || ok != tc.ok {
			t.Errorf("SubjectToken(%q, %q) = %q, %v; want %q, %v", tc.subject, tc.prefix, got, ok, tc.want, tc.ok)
		}
	}
}
