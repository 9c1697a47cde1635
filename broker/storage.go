package broker

import (
	"strconv"
	"strings"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
)

// boltStore is mochi's bolt storage hook with one repair.
//
// Why bolt: one file, no background compaction, no extra process. badger
// grew to GBs without GC tuning (mochi #369/#370/#375) and pebble brings an
// LSM tree that a handful of retained topics and sessions does not need
// (docs/mqtt.md §5).
//
// The repair: bolt.Hook.OnQosPublish (mochi v2.7.9, hooks/storage/bolt/
// bolt.go) stores an in-flight message without its PacketID. After a
// restart the restored message has packet id 0, and every reconnect of that
// session fails with "resend inflight: protocol violation: missing packet
// id" — the client can never resume. The id is still part of the storage key
// ("if_<client id>:<packet id>", inflightKey in the same file), so it is
// recovered from there on load.
type boltStore struct {
	*bolt.Hook
}

func (h boltStore) StoredInflightMessages() ([]storage.Message, error) {
	v, err := h.Hook.StoredInflightMessages()
	for i := range v {
		if v[i].PacketID == 0 {
			v[i].PacketID = packetIDFromKey(v[i].ID)
		}
	}
	return v, err
}

// packetIDFromKey reads the packet id after the last ':' of a bolt in-flight
// key. A client id may itself hold ':', the packet id never does. 0 means
// none could be read (mochi then refuses the message as before).
func packetIDFromKey(key string) uint16 {
	i := strings.LastIndexByte(key, ':')
	if i < 0 {
		return 0
	}
	n, err := strconv.ParseUint(key[i+1:], 10, 16)
	if err != nil {
		return 0
	}
	return uint16(n)
}
