package bridge

import (
	"context"
	"math"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plate-resort/plate-resort/contract"
)

// requester sends commands to the devices as MQTT 5 requests (topics.md):
// each names the bridge's response topic for its device and a fresh
// Correlation Data key, and its reply comes back through the correlator.
type requester struct {
	mq     *mqttConn
	corr   *correlator
	prefix string
}

// expect registers for one reply before the command goes out, so a reply
// that arrives early waits for the caller (correlator.go). Call done when no
// longer waiting.
func (q *requester) expect() (key string, replies <-chan []byte, done func()) {
	key, replies = q.corr.register()
	return key, replies, func() { q.corr.done(key) }
}

// send publishes body as command cmd to dev, its reply correlated with key,
// and returns the topic it went to. The MQTT message expiry is timeout, so a
// command the agent did not receive in time is never executed late.
func (q *requester) send(ctx context.Context, dev, cmd string, body []byte, key string, timeout time.Duration) (string, error) {
	topic := contract.DeviceTopics(q.prefix, dev).Command(cmd)
	expiry := uint32(math.Ceil(timeout.Seconds()))
	return topic, q.mq.publish(ctx, &paho.Publish{Topic: topic, Payload: body, Properties: &paho.PublishProperties{
		ResponseTopic: q.mq.responseTopic(dev), CorrelationData: []byte(key), MessageExpiry: &expiry,
	}})
}
