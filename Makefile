# Every target bootstraps .venv on first use (through scripts/dev.py, which needs only Python).
PYTHON ?= python3
DEV := $(PYTHON) scripts/dev.py

.PHONY: demo serve test gen check-gen lint breaking bench fuzz-rest

demo:
	$(DEV) demo $(ARGS)

serve:
	$(DEV) serve $(ARGS)

test:
	$(DEV) test $(ARGS)

gen:
	$(DEV) gen

check-gen:
	$(DEV) check-gen

lint:
	$(DEV) lint

fuzz-rest:
	$(DEV) fuzz-rest $(ARGS)

# Contract changes must not break main's wire contract (buf breaking, FILE rules).
breaking:
	$(DEV) bootstrap
	.venv/bin/buf breaking --against '.git#branch=main'
