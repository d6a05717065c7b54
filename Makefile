# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3

.PHONY: install demo test docs bench

install:
	$(PYTHON) -m pip install -q -e '.[test]'

demo: install
	$(PYTHON) -m saleor_amazonpay.cli demo

test:
	bash scripts/run-tests

docs:
	bash scripts/build-docs

bench: install
	$(PYTHON) benchmarks/run.py
