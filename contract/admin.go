package contract

// LogLevels are the levels set_log_level takes, quietest last.
var LogLevels = []string{"trace", "debug", "info", "warn", "error"}

func logLevelParams() *Schema {
	lv := make([]any, len(LogLevels))
	for i, l := range LogLevels {
		lv[i] = l
	}
	return object(map[string]*Schema{
		"level": {Type: "string", Enum: lv, Title: "Log level",
			Description: "The agent's new log level: trace, debug, info, warn or error. Trace and debug fill a Pi's disk quickly; set info again when done."},
	}, "level")
}

// AdminCommands are the commands only the admin role may publish: the
// embedded broker denies them to operators and bridges (broker/roles.go),
// who keep every other command. Changing the log level is not for everyone
// who may turn the carousel: trace logging fills the Pi's disk. Releasing
// someone else's lock without its id is for an admin who has checked that
// its holder is gone.
var AdminCommands = []string{SetLogLevel, ForceUnlock}

// AdminCommandFilters are <prefix>/+/cmd/<command> for each admin command.
func AdminCommandFilters(prefix string) []string {
	out := make([]string, len(AdminCommands))
	for i, c := range AdminCommands {
		out[i] = prefix + "/+/" + LevelCmd + "/" + c
	}
	return out
}
