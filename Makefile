# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
SALEOR_PYTHON ?= $(HOME)/saleor-env/venv/bin/python

.PHONY: install demo test docs e2e bench

install:
	$(PYTHON) -m pip install -q -e '.[test]'

demo: install
	$(PYTHON) -m saleor_amazonpay.cli demo

test:
	bash scripts/run-tests

docs:
	bash scripts/build-docs

# The real-browser test alone (Playwright + /usr/bin/chromium; screenshots in artifacts/e2e/).
e2e:
	$(SALEOR_PYTHON) -m pytest -c tests/saleor/pytest.ini tests/saleor/test_e2e_browser.py

bench: install
	$(PYTHON) benchmarks/run.py
