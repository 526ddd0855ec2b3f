# balance-alerts developer commands. Only python3 (3.11+) and make are needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
# The functions import the layer's package as Lambda does (it is on the path there).
export PYTHONPATH := $(CURDIR):$(CURDIR)/layers/common

.PHONY: demo test serve bench lint unit clean openapi fuzz

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

demo: $(VENV)/.installed  ## run the main job on the embedded local runtime (moto in-process)
	$(PY) -m local.demo

test: $(VENV)/.installed lint  ## the whole suite, as CI runs it
	$(PY) -m pytest

lint: $(VENV)/.installed  ## cfn-lint and sam validate --lint on the template
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/sam validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)

serve: $(VENV)/.installed  ## the API on http://127.0.0.1:8080 over a moto server
	$(PY) -m local.serve

openapi: $(VENV)/.installed  ## regenerate docs/openapi.json from the code (a test fails when stale)
	$(PY) -m tools.openapi

fuzz: $(VENV)/.installed  ## a long schemathesis run: every role on every operation, more examples
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-300} FUZZ_ALL_ROLES=1 FUZZ_STATS=out/fuzz.json \
		$(PY) -m pytest tests/fuzz -p no:logging

test-long: $(VENV)/.installed  ## the fault-injection suite with many more generated histories
	BALANCE_ALERTS_HISTORIES=$${BALANCE_ALERTS_HISTORIES:-3000} $(PY) -m pytest tests/faults -p no:logging

.PHONY: test-long
bench: $(VENV)/.installed  ## performance figures, side by side, written to out/bench.json
	$(PY) -m benchmarks.run

screenshots: $(VENV)/.installed  ## PNGs of every default email in docs/emails/ (needs chromium)
	$(PY) -m tools.screenshots

.PHONY: screenshots
clean:
	rm -rf $(VENV) .aws-sam out .pytest_cache .hypothesis
