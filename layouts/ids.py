"""Every Dash component id, in one place, so layouts and callbacks cannot drift apart."""

URL = "url"
ESTATE_SUMMARY = "estate-summary"
ESTATE_SITES = "estate-sites"

# meters page
METERS_TOTAL = "meters-total"
METERS_GRID = "meters-grid"
METERS_ENTER = "meters-enter-reading"
METERS_NOTICE = "meters-notice"
METERS_SAVED = "meters-saved"  # a counter bumped by each save: grid and totals refresh on it

# the reading modal
READING_MODAL = "reading-modal"
READING_STORE = "reading-store"
READING_DETAILS = "reading-details"
READING_VALUE = "reading-value"
READING_AT_TEXT = "reading-at-text"
READING_BACKDATE = "reading-backdate"
READING_AT = "reading-at"
READING_PREVIEW = "reading-preview"
READING_CONFIRM = "reading-confirm"
READING_LOWER_MEANS = "reading-lower-means"
READING_REASON = "reading-reason"
READING_SAVE = "reading-save"
READING_CANCEL = "reading-cancel"
READING_RESULT = "reading-result"
