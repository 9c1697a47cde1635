"""Drive the plate resort from Prefect, exactly as with the upstream Python flows.

    export PREFECT_API_URL=http://127.0.0.1:4200/api      # and PREFECT_API_AUTH_STRING / PREFECT_API_KEY if set
    python examples/activate_hotel.py B

The plate-resort bridge must be running (plate-resort bridge, or plate-resort up with a Prefect URL).
"""
import sys

from prefect.deployments import run_deployment

hotel = sys.argv[1] if len(sys.argv) > 1 else "A"

run = run_deployment("activate-hotel/activate-hotel", parameters={"hotel": hotel}, timeout=300)
state = run.state
print(f"activate-hotel {hotel}: {state.name}")
if state.is_completed():
    result = state.result()  # a dict: success, hotel, final_angle, final_error, pulses, duration_s, ...
    print(f"  success={result['success']} final_angle={result['final_angle']}")
else:
    print(f"  {state.message}")  # e.g. "estop_latched: ..." or "device resort-1 is offline since ..."
    sys.exit(1)

position = run_deployment("get-position/get-position", timeout=60).state.result()  # a float, in degrees
print(f"position now {position:.2f} deg")
