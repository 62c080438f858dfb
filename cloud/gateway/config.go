package gateway

import (
	"errors"
	"fmt"
	"os"

	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/internal/yamlfile"
)

// LoadConfig reads the gateway's config file; unknown keys and values of
// the wrong type are errors naming file and line. An empty path gives the
// zero Options (every default).
func LoadConfig(path string) (Options, error) {
	var o Options
	if path == "" {
		return o, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return o, fmt.Errorf("config: %w", err)
	}
	err = yamlfile.Decode(path, data, &o)
	return o, err
}

// Check validates the options offline, as `ingest-gateway check-config`
// does, and returns every mistake: the listeners and their TLS files, the
// credentials file, the rules file, the NATS settings.
func (o Options) Check() error {
	var errs []error
	if err := o.setDefaults(); err != nil {
		errs = append(errs, err)
	}
	if o.Credentials.File != "" {
		if _, err := os.Stat(o.Credentials.File); err == nil {
			if _, err := auth.Load(o.Credentials.File); err != nil {
				errs = append(errs, fmt.Errorf("credentials: %w", err))
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("credentials: %w", err))
		}
	}
	if o.Alerts.RulesFile != "" {
		if _, err := alert.LoadRules(o.Alerts.RulesFile, o.Alerts.Catalog); err != nil {
			errs = append(errs, fmt.Errorf("alerts: %w", err))
		}
	}
	mo := o.MQTT
	if mo.Credentials == nil {
		mo.Credentials = new(auth.Credentials) // the gateway always has its credentials file
	}
	if err := mo.Check(); err != nil {
		errs = append(errs, fmt.Errorf("mqtt: %w", err))
	}
	if o.NATS.URL != "" && o.NATS.PasswordFile != "" {
		if _, err := firstLine(o.NATS.PasswordFile); err != nil {
			errs = append(errs, fmt.Errorf("nats.password_file: %w", err))
		}
	}
	return errors.Join(errs...)
}
