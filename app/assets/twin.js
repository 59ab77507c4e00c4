// Clientside callbacks, kept in a file (not inline) so a strict Content-Security-Policy works.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  twin: {
    // After a save, make the infinite-row grid fetch its rows again (keeps sort and filter).
    refreshGrid: function (saved, gridId) {
      if (saved) {
        dash_ag_grid.getApiAsync(gridId).then(function (api) { api.refreshInfiniteCache(); });
      }
      return window.dash_clientside.no_update;
    },
  },
});
