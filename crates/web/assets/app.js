// Progressive enhancement only: every page works without this script.
// Click a column header of a sortable table to sort it.
document.addEventListener("click", (event) => {
  const th = event.target.closest("table[data-sortable] th");
  if (!th) return;
  const table = th.closest("table");
  const index = Array.from(th.parentNode.children).indexOf(th);
  const ascending = th.getAttribute("aria-sort") !== "ascending";
  table.querySelectorAll("th").forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const body = table.tBodies[0];
  const key = (row) => (row.children[index] ? row.children[index].textContent.trim() : "");
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    const nx = Number(x.replace(/[,¥%]/g, "")), ny = Number(y.replace(/[,¥%]/g, ""));
    const order = !Number.isNaN(nx) && !Number.isNaN(ny) && x !== "" && y !== "" ? nx - ny : x.localeCompare(y, document.documentElement.lang);
    return ascending ? order : -order;
  });
  rows.forEach((row) => body.appendChild(row));
});
