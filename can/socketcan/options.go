package socketcan

import (
	"cmp"
	"errors"
	"log/slog"
	"slices"
)

// Options configures a Bus. Every field except Interface has a usable zero
// value; Open does not keep a reference to Filters.
type Options struct {
	// Interface is the network interface, e.g. "can0" or "vcan0".
	Interface string `yaml:"interface"`
	// ReceiveBuffer is the socket receive buffer in bytes; 0 keeps the
	// kernel default (net.core.rmem_default, often 208 KiB: about 900 FD
	// frames). A busy bus needs more when the reader stalls. Open tries
	// SO_RCVBUFFORCE, which may exceed net.core.rmem_max but needs
	// CAP_NET_ADMIN, and falls back to SO_RCVBUF, which the kernel caps.
	ReceiveBuffer int `yaml:"receive_buffer"`
	// Filters selects the frames the kernel delivers; empty means all.
	// FiltersFor builds them from the ids a decoder needs. Over the kernel's
	// limit of MaxFilters filters no filter is set and every frame is
	// delivered (the decoder ignores the extra ones), because the kernel
	// would refuse the list and the bus would be unusable.
	Filters []Filter `yaml:"filters"`
	// ErrorFrames asks for the kernel's error frames (bus-off, error
	// passive, lost arbitration...). They are counted in
	// kanal_can_error_frames_total and returned by Next with can.Error set.
	ErrorFrames bool `yaml:"error_frames"`
	// Logger receives state changes (bus down/up); nil means slog.Default().
	Logger *slog.Logger `yaml:"-"`
	// Metrics is shared by all buses of a process; nil means a private,
	// unregistered set.
	Metrics *Metrics `yaml:"-"`
}

// MaxFilters is the kernel's limit on CAN_RAW_FILTER entries (CAN_RAW_FILTER_MAX).
const MaxFilters = 512

// Filter passes a frame when its identifier matches ID on the bits of Mask
// and its format (11-bit or 29-bit) matches Extended. Remote frames do not
// pass: a filter asks for data. Error frames are not filtered: see
// Options.ErrorFrames.
type Filter struct {
	ID       uint32 `yaml:"id"`
	Mask     uint32 `yaml:"mask"` // 0 means all 11 or 29 bits: an exact match
	Extended bool   `yaml:"extended"`
}

// EFF is the kernel's extended-frame flag (CAN_EFF_FLAG). DBC files and
// einride's dbc.MessageID write 29-bit ids with it, which is the form
// FiltersFor takes.
const EFF = 0x80000000

// FiltersFor returns one exact-match filter per identifier a decoder needs,
// sorted and without duplicates. Ids are in DBC/kernel form: a 29-bit id
// carries EFF. An id over 0x7FF without EFF cannot be a standard id and is
// taken as extended.
//
// Over MaxFilters ids the result is still returned in full, and Open then
// receives every frame (see Options.Filters).
func FiltersFor(ids []uint32) []Filter {
	fs := make([]Filter, 0, len(ids))
	for _, id := range ids {
		ext := id&EFF != 0 || id&^EFF > sffMask
		fs = append(fs, Filter{ID: id & effMask, Extended: ext})
	}
	slices.SortFunc(fs, func(a, b Filter) int {
		if a.Extended != b.Extended {
			if a.Extended {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return slices.Compact(fs)
}

// kernelFilter returns the can_id and can_mask of a struct can_filter.
// The mask always includes EFF and RTR, so a standard filter never passes an
// extended frame with the same low bits, nor a remote frame.
func (f Filter) kernelFilter() (id, mask uint32) {
	full := uint32(sffMask)
	if f.Extended {
		full = effMask
		id = EFF
	}
	m := f.Mask & full
	if m == 0 {
		m = full
	}
	return id | f.ID&m, m | EFF | rtrFlag
}

// Errors a Bus returns, wrapped with the operation and the interface name.
var (
	// ErrBusDown is returned by Send while the interface is down or gone.
	// Next does not return it: it waits for the interface to come back.
	ErrBusDown = errors.New("can bus down")
	// ErrFDNotSupported is returned by Send for an FD frame on an interface
	// whose MTU is 16 (classic CAN). `ip link set IFACE mtu 72` enables FD
	// on vcan; a real controller needs `fd on` and a data bitrate.
	ErrFDNotSupported = errors.New("CAN FD frame on a classic-MTU interface (set mtu 72)")
)
