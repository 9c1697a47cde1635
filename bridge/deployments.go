package bridge

import (
	"github.com/plate-resort/plate-resort/contract"
)

// resultShape says what a Completed run's data is, so that Python's
// state.result() returns what the upstream flow returned (docs/prefect.md §7).
type resultShape int

const (
	// resultObject: the agent's result object (activate-hotel, health, ...).
	resultObject resultShape = iota
	// resultAngle: the angle as a bare number (upstream get_current_position
	// returned a float).
	resultAngle
)

// flowDef is one upstream plate-RESORT flow and the agent command behind it.
type flowDef struct {
	Flow       string // Prefect flow name
	Deployment string // deployment name on the first device
	Command    string // agent command
	// Rename maps a Prefect (upstream) parameter name to the agent's.
	Rename map[string]string
	// Accepted are upstream-only parameters: in the Prefect schema, so the
	// upstream orchestrator's calls validate, but not sent to the agent.
	Accepted map[string]*contract.Schema
	Result   resultShape
	// Note ends the deployment's description: which of two names for the
	// same command is the upstream alias.
	Note string
	// Newer marks a command only newer agents offer: on an agent without it
	// the deployment is skipped quietly.
	Newer bool
	// FillsLockID: the agent's required lock_id is optional in Prefect,
	// because the bridge fills it in from the parent flow run (lock.go).
	FillsLockID bool
}

// flowDefs are the upstream deployments (AccelerationConsortium/plate-RESORT:
// plate_resort/workflows/orchestrator.py calls exactly these names and
// parameters, flows.py defines them).
var flowDefs = []flowDef{
	{Flow: "connect", Deployment: "connect", Command: contract.Connect,
		// upstream connect(device, baudrate, motor_id); the agent names the
		// serial port "port".
		Rename: map[string]string{"device": "port"}},
	{Flow: "disconnect", Deployment: "disconnect", Command: contract.Disconnect},
	{Flow: "get-motor-health", Deployment: "health", Command: contract.GetHealth},
	{Flow: "activate-hotel", Deployment: "activate-hotel", Command: contract.ActivateHotel},
	{Flow: "go-home", Deployment: "go-home", Command: contract.GoHome},
	{Flow: "move-to-angle", Deployment: "move-to-angle", Command: contract.MoveToAngle},
	{Flow: "set-speed", Deployment: "set-speed", Command: contract.SetSpeed},
	{Flow: "emergency-stop", Deployment: "emergency-stop", Command: contract.EmergencyStop},
	// Two upstream flows read the position; both names stay so existing
	// callers work, and each description says which is the alias.
	{Flow: "get-position", Deployment: "get-position", Command: contract.GetPosition, Result: resultAngle,
		Note: "Same command as get-current-position/get-position, which is only the alias kept for upstream plate-RESORT's get_current_position flow."},
	{Flow: "get-current-position", Deployment: "get-position", Command: contract.GetPosition, Result: resultAngle,
		Note: "This is the alias kept for upstream plate-RESORT's get_current_position flow: it runs the same command as get-position/get-position, which new code should use."},
	{Flow: "reboot", Deployment: "reboot", Command: contract.Reboot,
		// upstream reboot(wait=0.8, reapply=True): the agent waits for the
		// servo itself (resort.reboot_wait), so wait is accepted and unused.
		Accepted: map[string]*contract.Schema{"wait": {Type: "number", Minimum: f64(0), Maximum: f64(60), Default: 0.8,
			Title:       "Wait after reboot (seconds, unused)",
			Description: "Accepted for compatibility with the upstream flow and not used: the agent waits for the servo to boot by itself. Seconds from 0 to 60."}}},
	// Not upstream: hold the carousel for a flow's sequence of runs (lock.go).
	{Flow: "lock", Deployment: "lock", Command: contract.Lock, Newer: true, FillsLockID: true,
		Note: "Run it with run_deployment inside your flow: the lock id is your flow run's id, so your later run_deployment calls pass the lock and everyone else's motion is refused (locked) until unlock or the timeout."},
	{Flow: "unlock", Deployment: "unlock", Command: contract.Unlock, Newer: true, FillsLockID: true,
		Note: "Run it with run_deployment inside the flow that locked, or give the lock_id to release a lock from the UI."},
}

func f64(v float64) *float64 { return &v }

// flowDefByName finds a flow by its Prefect flow name.
func flowDefByName(name string) (*flowDef, bool) {
	for i := range flowDefs {
		if flowDefs[i].Flow == name {
			return &flowDefs[i], true
		}
	}
	return nil, false
}

// deployment is one registered deployment: a flow on a device.
type deployment struct {
	ID     string
	Name   string // deployment name
	Device string
	Def    *flowDef
	Cfg    DeploymentConfig
	Queue  string // its work queue (queueFor)
}

// FullName is "flow/deployment", as run_deployment takes it.
func (d *deployment) FullName() string { return d.Def.Flow + "/" + d.Name }

// deploymentName is the deployment name of def on device; the first device
// keeps the upstream names.
func deploymentName(def *flowDef, device string, first bool) string {
	if first {
		return def.Deployment
	}
	return device
}

// FlowNames are the Prefect flows the bridge registers: one deployment of
// each per device whose agent offers the flow's command (every command of
// a current agent), for harnesses that wait for a fleet's registration.
func FlowNames() []string { return flowNames() }
