package uplink

// Options is the `uplink` section of the agent's config file: how to reach
// the gateway, how to batch, and the sampler's defaults.
//
//	uplink:
//	  broker: mqtts://gateway.example:8883
//	  username: veh-0001
//	  password_file: /etc/kanal/password
//	  tls: {ca: /etc/kanal/ca.pem}
//	  batch: {max_bytes: 128KiB, max_age: 1s, keyframe_interval: 60s}
//	  sampling: {heartbeat: 60s}
type Options struct {
	MQTTOptions `yaml:",inline"`
	Batch       BatchOptions    `yaml:"batch"`
	Sampling    SamplingOptions `yaml:"sampling"`
}

// Check validates the options offline, naming the field: the broker URL,
// the limits, and that the password and TLS files can be read.
func (o Options) Check() error {
	if err := o.MQTTOptions.Check(); err != nil {
		return err
	}
	b := o.Batch
	return b.setDefaults()
}
