"""Helpers that tests (and the multi-host test) import: throwaway servers started by the tests themselves."""
