/*
 * PDFs with embedded JavaScript or actions that run on their own.
 *
 * PDF names may hex-escape any character (/J#61vaScript is /JavaScript),
 * so names are matched as regular expressions allowing #xx for each
 * character. The first two characters' spellings are written out as
 * alternatives so that YARA gets multi-byte atoms: a lone "/" atom would
 * fire on every name of a PDF and make scanning ten times slower. /JS and
 * /AA must be followed by a delimiter (not /JSomething).
 *
 * Readers accept the %PDF- header anywhere in the first 1024 bytes, so the
 * rules do too. Names inside compressed object streams are invisible to
 * these byte rules; PDF_JavaScript_In_Stream below reads the streams the
 * engine inflates (see docs/engines.md).
 */

rule PDF_JavaScript
{
    meta:
        severity = "suspicious"
        description = "PDF with embedded JavaScript"
    strings:
        $pdf = "%PDF-"
        $js_long = /\/(Ja|J#61|#4[aA]a|#4[aA]#61)(v|#76)(a|#61)(S|#53)(c|#63)(r|#72)(i|#69)(p|#70)(t|#74)/
        $js_short = /\/(JS|J#53|#4[aA]S|#4[aA]#53)[\s\/<>\[\]()%]/
    condition:
        $pdf in (0..1024) and any of ($js*)
}

rule PDF_AutoAction_Script
{
    meta:
        severity = "suspicious"
        description = "PDF that runs JavaScript or launches a program by itself (OpenAction/AA)"
    strings:
        $pdf = "%PDF-"
        $open = /\/(Op|O#70|#4[fF]p|#4[fF]#70)(e|#65)(n|#6[eE])(A|#41)(c|#63)(t|#74)(i|#69)(o|#6[fF])(n|#6[eE])/
        $aa = /\/(AA|A#41|#41A|#41#41)[\s\/<>\[\]()%]/
        $js_long = /\/(Ja|J#61|#4[aA]a|#4[aA]#61)(v|#76)(a|#61)(S|#53)(c|#63)(r|#72)(i|#69)(p|#70)(t|#74)/
        $js_short = /\/(JS|J#53|#4[aA]S|#4[aA]#53)[\s\/<>\[\]()%]/
        $launch = /\/(La|L#61|#4[cC]a|#4[cC]#61)(u|#75)(n|#6[eE])(c|#63)(h|#68)/
    condition:
        $pdf in (0..1024) and ($open or $aa) and (any of ($js*) or $launch)
}

/*
 * An automatic action alone is common in harmless PDFs (LaTeX's hyperref
 * writes /OpenAction to set the first page's zoom), so it is informational.
 */
rule PDF_AutoAction
{
    meta:
        severity = "info"
        description = "PDF with an automatic action (OpenAction/AA)"
    strings:
        $pdf = "%PDF-"
        $open = /\/(Op|O#70|#4[fF]p|#4[fF]#70)(e|#65)(n|#6[eE])(A|#41)(c|#63)(t|#74)(i|#69)(o|#6[fF])(n|#6[eE])/
        $aa = /\/(AA|A#41|#41A|#41#41)[\s\/<>\[\]()%]/
    condition:
        $pdf in (0..1024) and ($open or $aa)
}

/*
 * The inflated streams of a PDF (intellidox_view == "pdf-stream"), object
 * streams included: PDF 1.5 writers may put every dictionary, the action
 * that runs JavaScript among them, inside a compressed object stream, out
 * of PDF_JavaScript's sight. Content streams hold page text, so the name
 * alone is not enough: it must be a /JS or /S /JavaScript key of an action.
 */
rule PDF_JavaScript_In_Stream
{
    meta:
        severity = "suspicious"
        description = "PDF with JavaScript in a compressed (object) stream"
    strings:
        $s_js = /\/(S|#53)\s*\/(Ja|J#61|#4[aA]a|#4[aA]#61)(v|#76)(a|#61)(S|#53)(c|#63)(r|#72)(i|#69)(p|#70)(t|#74)/
        $js_short = /\/(JS|J#53|#4[aA]S|#4[aA]#53)\s*([(<]|\d+\s+\d+\s+R)/
    condition:
        intellidox_view == "pdf-stream" and any of them
}
