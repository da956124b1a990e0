// A sortable, paginated table rendered from the JSON in <script type="application/json" id="...">.
function renderTable(holder) {
  const data = JSON.parse(document.getElementById(holder.dataset.source).textContent);
  const pageSize = 50;
  let rows = data.rows.slice(), page = 0, sortColumn = -1, ascending = true;
  const count = document.createElement("p");
  const table = document.createElement("table");
  const pager = document.createElement("div");
  pager.className = "pager";
  holder.append(count, table, pager);
  function cell(value, column) {
    const td = document.createElement("td");
    if (value === null || value === undefined) return td;
    if (typeof value === "number") { td.className = "num"; td.textContent = Number.isInteger(value) ? value : value.toPrecision(5); }
    else td.textContent = value;
    if (data.links && data.links[column] && value !== "") {
      const a = document.createElement("a");
      a.href = data.links[column].replace("{}", String(value).replace(/[^A-Za-z0-9_.-]/g, "_"));
      a.textContent = td.textContent; td.textContent = ""; td.append(a);
    }
    if (data.columns[column] === "status") td.classList.add("status-" + value);
    return td;
  }
  function draw() {
    table.replaceChildren();
    const head = table.insertRow();
    data.columns.forEach((name, i) => {
      const th = document.createElement("th");
      th.textContent = name + (i === sortColumn ? (ascending ? " ▲" : " ▼") : "");
      th.className = "sortable";
      th.onclick = () => { ascending = i === sortColumn ? !ascending : true; sortColumn = i; sort(); draw(); };
      head.append(th);
    });
    rows.slice(page * pageSize, (page + 1) * pageSize).forEach(row => {
      const tr = table.insertRow();
      row.forEach((value, i) => tr.append(cell(value, i)));
    });
    const pages = Math.max(1, Math.ceil(rows.length / pageSize));
    count.textContent = rows.length + " " + data.nouns[rows.length === 1 ? 0 : 1] + (pages > 1 ? ", page " + (page + 1) + " of " + pages : "");
    count.className = "row-count"; count.dataset.rows = rows.length;
    pager.replaceChildren();
    if (pages > 1) {
      [["« first", 0], ["‹ previous", page - 1], ["next ›", page + 1], ["last »", pages - 1]].forEach(([label, target]) => {
        const button = document.createElement("button");
        button.textContent = label;
        button.disabled = target < 0 || target >= pages || target === page;
        button.onclick = () => { page = target; draw(); };
        pager.append(button);
      });
    }
  }
  function sort() {
    const sign = ascending ? 1 : -1;
    rows.sort((a, b) => {
      const x = a[sortColumn], y = b[sortColumn];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * sign;
    });
    page = 0;
  }
  draw();
}
document.addEventListener("DOMContentLoaded", () => document.querySelectorAll("div.runs-table").forEach(renderTable));
