"""Every Dash component id, in one place, so layouts and callbacks cannot drift apart."""

URL = "url"
ESTATE_SUMMARY = "estate-summary"
ESTATE_SITES = "estate-sites"
