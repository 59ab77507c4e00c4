"""Every Dash component id, in one place, so layouts and callbacks cannot drift apart."""

URL = "url"
NAV_TOGGLE = "nav-toggle"
NAV_COLLAPSE = "nav-collapse"
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

# admin page
ADMIN_BODY = "admin-body"
ADMIN_USERS = "admin-users"
ADMIN_USER_SELECT = "admin-user-select"
ADMIN_ROLE = "admin-role"
ADMIN_ACTIVE = "admin-active"
ADMIN_USER_SAVE = "admin-user-save"
ADMIN_USER_RESULT = "admin-user-result"
ADMIN_NEW_EMAIL = "admin-new-email"
ADMIN_NEW_NAME = "admin-new-name"
ADMIN_NEW_ROLE = "admin-new-role"
ADMIN_NEW_CREATE = "admin-new-create"
ADMIN_NEW_RESULT = "admin-new-result"
ADMIN_BILLING_EMAIL = "admin-billing-email"
ADMIN_BILLING_SAVE = "admin-billing-save"
ADMIN_BILLING_RESULT = "admin-billing-result"
ADMIN_TARIFFS = "admin-tariffs"
ADMIN_CHANGED = "admin-changed"
ADMIN_TOKENS = "admin-tokens"
ADMIN_TOKEN_NAME = "admin-token-name"
ADMIN_TOKEN_SCOPE = "admin-token-scope"
ADMIN_TOKEN_CREATE = "admin-token-create"
ADMIN_TOKEN_RESULT = "admin-token-result"
ADMIN_TOKEN_REVOKE = "admin-token-revoke"  # pattern-matching: {"type": ..., "index": token id}

# models page
MODELS_ASSET = "models-asset"
MODELS_TARGET = "models-target"
MODELS_TRAIN = "models-train"
MODELS_PROGRESS = "models-progress"
MODELS_PROGRESS_TEXT = "models-progress-text"
MODELS_POLL = "models-poll"
MODELS_VERSIONS = "models-versions"
MODELS_CHART = "models-chart"
MODELS_VALIDATIONS = "models-validations"
MODELS_EVENTS = "models-events"
MODELS_REFRESH = "models-refresh"

# emailing a cost summary: one form on the meters page and one in the reading modal, told
# apart by "where" in pattern-matching ids, served by the same callbacks
EMAIL_TOGGLE = "email-summary-toggle"
EMAIL_FORM = "email-summary-form"
EMAIL_SCOPE = "email-summary-scope"
EMAIL_PERIOD = "email-summary-period"
EMAIL_SEND = "email-summary-send"
EMAIL_RESULT = "email-summary-result"

# emails page
EMAILS_COUNTS = "emails-counts"
EMAILS_TABLE = "emails-table"
EMAILS_POLL = "emails-poll"
EMAILS_EMPTY = "emails-empty"

# asset page
ASSET_ID = "asset-id"
ASSET_BODY = "asset-body"  # everything below the frame, drawn in one request
ASSET_FIRST_RANGE = "asset-first-range"  # the preset the page opens on (?range=7d)
ASSET_HEADER = "asset-header"
ASSET_STATUS = "asset-status"  # the pipeline status line under the title
ASSET_RANGE = "asset-range"
ASSET_CUSTOM = "asset-custom-range"
ASSET_CUSTOM_COLLAPSE = "asset-custom-collapse"
ASSET_SENSORS = "asset-sensors"
ASSET_STACKED = "asset-stacked"
ASSET_VIEW = "asset-view"  # the main plot's range, channels and newest point: for live and CSV
ASSET_LIVE = "asset-live"
ASSET_LIVE_NOTE = "asset-live-note"
ASSET_CSV = "asset-csv"
ASSET_DOWNLOAD = "asset-download"
ASSET_SINGLE_CHANNEL = "asset-single-channel"
ASSET_SINGLE = "asset-single"
ASSET_PAIR_A = "asset-pair-a"
ASSET_PAIR_B = "asset-pair-b"
ASSET_PAIR = "asset-pair"
ASSET_DUAL = "asset-dual"
ASSET_BATCH = "asset-batch"
ASSET_BATCH_GRAPH = "asset-batch-graph"
ASSET_CALCS = "asset-calculations"
ASSET_TARGET = "asset-target"
ASSET_FORECAST = "asset-forecast"
ASSET_FORECAST_METRICS = "asset-forecast-metrics"
ASSET_RESIDUAL_SENSOR = "asset-residual-sensor"
ASSET_RESIDUALS = "asset-residuals"  # a sensor against what the twin expects, and its CUSUM
ASSET_RESIDUAL_NOTE = "asset-residual-note"

# meter page
METER_ID = "meter-id"
METER_HEADER = "meter-header"
METER_CHART = "meter-chart"
METER_TABLE = "meter-table"
METERS_OPEN = "meters-open-page"

# board page
BOARD_SITES = "board-sites"
BOARD_FIGURE = "board-figure"  # pattern-matching: {"type": BOARD_FIGURE, "site": site id}
BOARD_WIDTH = "board-width"  # the browser window's width, so figures are drawn for it
BOARD_LOCATION = "board-location"

# asset page: performance metrics (layouts/metrics.py)
ASSET_METRICS = "asset-metrics"
ASSET_METRICS_NOTE = "asset-metrics-note"
ASSET_METRIC = "asset-metric"  # a metric's tile is f"{ASSET_METRIC}-{key}" (its tooltip's target)

# what-if page
WHATIF_ASSET = "whatif-asset"
WHATIF_COUNT = "whatif-count"
WHATIF_ASSET_NOTE = "whatif-asset-note"
WHATIF_COLUMN = "whatif-column"  # pattern-matching: {"type": WHATIF_COLUMN, "scenario": 0..3}
WHATIF_FIELD = "whatif-field"  # pattern-matching: {"type": WHATIF_FIELD, "field": name, "scenario": 0..3}
WHATIF_ROW = "whatif-row"  # pattern-matching, as WHATIF_FIELD: the field with its label
WHATIF_RUN = "whatif-run"
WHATIF_JOB = "whatif-job"  # the id of the run on the workers being watched
WHATIF_POLL = "whatif-poll"
WHATIF_PROGRESS = "whatif-progress"
WHATIF_PROGRESS_TEXT = "whatif-progress-text"
WHATIF_RESULT = "whatif-result"  # the run's results, as the service returned them
WHATIF_KPIS = "whatif-kpis"
WHATIF_TEMPERATURE = "whatif-temperature"
WHATIF_ENERGY = "whatif-energy"

# alerts page
ALERTS_FILTER = "alerts-filter"
ALERTS_SITES = "alerts-sites"
ALERTS_TABLE = "alerts-table"
ALERTS_POLL = "alerts-poll"
ALERTS_CHANGED = "alerts-changed"  # a counter bumped by each acknowledgement: the page redraws
ALERTS_ACK_OPEN = "alerts-ack-open"  # pattern-matching: {"type": ALERTS_ACK_OPEN, "alert": id}
ALERTS_ACK_MODAL = "alerts-ack-modal"
ALERTS_ACK_TARGET = "alerts-ack-target"  # the alert id the dialog is about
ALERTS_ACK_SUMMARY = "alerts-ack-summary"
ALERTS_ACK_COMMENT = "alerts-ack-comment"
ALERTS_ACK_CONFIRM = "alerts-ack-confirm"
ALERTS_ACK_CANCEL = "alerts-ack-cancel"
ALERTS_ACK_RESULT = "alerts-ack-result"

# plant catalogue page (admins): sites -> assets -> sensors, and one editor at a time
CAT_BODY = "cat-body"
CAT_CHANGED = "cat-changed"  # a counter bumped by each change: the estate tree redraws
CAT_EDITING = "cat-editing"  # what the editor shows: {"kind": site|asset|sensor, "id": id or None, "parent": id}
CAT_SHOW_RETIRED = "cat-show-retired"
CAT_ADD_SITE = "cat-add-site"
CAT_NOTICE = "cat-notice"  # what a retire, restore or delete in the tree did
CAT_TREE = "cat-tree"
CAT_EDIT = "cat-edit"  # pattern-matching: {"type": CAT_EDIT, "kind": site|asset|sensor, "id": id}
CAT_ADD = "cat-add"  # pattern-matching: {"type": CAT_ADD, "kind": asset|sensor, "parent": site or asset id}
CAT_ADD_NEXT = "cat-add-next"  # as CAT_ADD, the next step offered after a save (ids must be unique)
CAT_RETIRE = "cat-retire"  # pattern-matching: {"type": CAT_RETIRE, "kind": ..., "id": id, "restore": bool}
CAT_DELETE = "cat-delete"  # pattern-matching: {"type": CAT_DELETE, "kind": ..., "id": id} (a confirm)
CAT_EDITOR_HINT = "cat-editor-hint"
CAT_SITE_FORM = "cat-site-form"
CAT_SITE_TITLE = "cat-site-title"
CAT_SITE_NAME = "cat-site-name"
CAT_SITE_LOCATION = "cat-site-location"
CAT_SITE_EMAILS = "cat-site-emails"
CAT_SITE_SAVE = "cat-site-save"
CAT_SITE_RESULT = "cat-site-result"
CAT_ASSET_FORM = "cat-asset-form"
CAT_ASSET_TITLE = "cat-asset-title"
CAT_ASSET_STORED = "cat-asset-stored"  # the edited asset's sensor and parameter names, for the form
CAT_ASSET_SITE = "cat-asset-site"
CAT_ASSET_NAME = "cat-asset-name"
CAT_ASSET_TYPE = "cat-asset-type"
CAT_ASSET_TYPE_HELP = "cat-asset-type-help"
CAT_ASSET_PARAMS = "cat-asset-parameters"
CAT_PARAM = "cat-param"  # pattern-matching: {"type": CAT_PARAM, "name": parameter name}
CAT_CONST_NAME = "cat-const-name"  # pattern-matching, a generic asset's constants: {"type": ..., "row": n}
CAT_CONST_VALUE = "cat-const-value"
CAT_CONST_REMOVE = "cat-const-remove"
CAT_CONST_ADD = "cat-const-add"
CAT_ASSET_UPSTREAM = "cat-asset-upstream"
CAT_FORMULAS = "cat-formulas"
CAT_FORMULA_NAME = "cat-formula-name"  # pattern-matching: {"type": ..., "row": n}
CAT_FORMULA_UNIT = "cat-formula-unit"
CAT_FORMULA_TEXT = "cat-formula-text"
CAT_FORMULA_REMOVE = "cat-formula-remove"
CAT_FORMULA_ADD = "cat-formula-add"
CAT_ASSET_TARGETS = "cat-asset-targets"
CAT_ASSET_SAVE = "cat-asset-save"
CAT_ASSET_RESULT = "cat-asset-result"
CAT_SENSOR_FORM = "cat-sensor-form"
CAT_SENSOR_TITLE = "cat-sensor-title"
CAT_SENSOR_NAME = "cat-sensor-name"
CAT_SENSOR_UNIT = "cat-sensor-unit"
CAT_SENSOR_INTERVAL = "cat-sensor-interval"
CAT_SENSOR_INTERVAL_TEXT = "cat-sensor-interval-text"
CAT_SENSOR_MIN = "cat-sensor-min"
CAT_SENSOR_MAX = "cat-sensor-max"
CAT_SENSOR_SAVE = "cat-sensor-save"
CAT_SENSOR_RESULT = "cat-sensor-result"
METER_GRID = "meter-grid"  # the meter page's readings, paged on the server
METER_RESOLUTION = "meter-resolution"  # how the meter page's chart groups periods
NOT_FOUND = "not-found"  # the calm "not here" notice (layouts.not_found)
NO_ACCESS = "no-access"  # the calm "you do not have access" notice
NAV_MENU = "nav-menu"  # the menu's links, only those the user's role can open
ADMIN_REVOKE_MODAL = "admin-revoke-modal"  # Revoke a token: the confirmation in the page
ADMIN_REVOKE_TARGET = "admin-revoke-target"
ADMIN_REVOKE_TEXT = "admin-revoke-text"
ADMIN_REVOKE_CONFIRM = "admin-revoke-confirm"
ADMIN_REVOKE_CANCEL = "admin-revoke-cancel"
READING_WARNINGS = "reading-warnings"  # the modal's warnings about the reading, above its reason
READING_SETTLED = "reading-settled"  # the value the user left the field on: not half typed
READING_SAVE_HINT = "reading-save-hint"  # next to Save: what is missing while it is disabled
READING_TOAST = "reading-toast"  # the lasting confirmation of a saved reading
BOARD_CONCERNS = "board-concerns"  # pattern: {"type": BOARD_CONCERNS, "site": site id}: a site's concerns table
