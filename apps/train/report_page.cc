#include "apps/train/report_page.h"

#include "apps/train/html_text.h"

namespace hsanet::train {

namespace {
const char* kStyle =
    "body{font-family:sans-serif;margin:24px auto;max-width:1150px;color:#222;background:#fff}"
    "h1{font-size:24px;margin-bottom:4px}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}"
    "table{border-collapse:collapse;margin:8px 0;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#eef2f7}"
    "tr:nth-child(even) td{background:#fafafa}.note{color:#666;font-style:italic}"
    ".subtitle{color:#555;margin-top:0}.caption{font-weight:bold}nav a{margin-right:12px}"
    ".figures svg{margin:6px;border:1px solid #eee;max-width:100%;height:auto}"
    ".figures.two svg{width:48%}"
    ".big{font-size:22px;font-weight:bold;margin-right:28px}"
    ".gallery{display:flex;flex-wrap:wrap;gap:8px}"
    ".tile{width:130px;border:2px solid #2ca02c;padding:4px;font-size:11px;text-align:center;word-wrap:break-word}"
    ".tile.wrong{border-color:#d62728;background:#fff3f3}.tile img{width:96px;height:auto;image-rendering:auto}"
    ".side{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}"
    ".scroll{max-height:420px;overflow-y:auto;display:inline-block;border:1px solid #eee}"
    ".explain{display:flex;flex-wrap:wrap;gap:8px}.explain img{max-width:360px;margin:6px;border:1px solid #ccc}";
}  // namespace

std::string html_note(const std::string& text) { return "<p class=\"note\">" + html_escape(text) + "</p>\n"; }

std::string html_page(const std::string& title, const std::string& subtitle, const std::vector<PageSection>& sections) {
  std::string page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
                     html_escape(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n<h1>" +
                     html_escape(title) + "</h1>\n<p class=\"subtitle\">" + html_escape(subtitle) + "</p>\n<nav>";
  for (const PageSection& s : sections) page += "<a href=\"#" + html_escape(s.id) + "\">" + html_escape(s.title) + "</a>";
  page += "</nav>\n";
  for (const PageSection& s : sections)
    page += "<section id=\"" + html_escape(s.id) + "\">\n<h2>" + html_escape(s.title) + "</h2>\n" + s.body + "</section>\n";
  return page + "</body>\n</html>\n";
}

}  // namespace hsanet::train
