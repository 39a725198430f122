// Unit page trend chart (programme/unit.html); data from the #unit-data JSON block (CSP-safe).
'use strict';
const D = JSON.parse(document.getElementById('unit-data').textContent);
const S = D.series;
const pct = v => v == null ? null : Math.round(v * 1000) / 10;
const c = echarts.init(document.getElementById('chart'));
c.setOption({tooltip:{trigger:'axis', valueFormatter:v=>v==null?'—':v+'%'}, legend:{}, grid:{left:40,right:10,bottom:50},
  xAxis:{type:'category', data:S.map(s=>s.period), axisLabel:{rotate:45}}, yAxis:{type:'value', axisLabel:{formatter:'{value}%'}},
  series: D.keys.map(k=>({name:D.labels[k], type:'line', data:S.map(s=>s[k] ? pct(s[k][0]) : null)})).concat(
    D.keys.map(k=>({name:D.labels[k] + ' ' + D.verified, type:'line', lineStyle:{type:'dashed'}, symbol:'none',
                    data:S.map(s=>s[k] ? pct(s[k][2]) : null)})))});
window.addEventListener('resize', ()=>c.resize());
