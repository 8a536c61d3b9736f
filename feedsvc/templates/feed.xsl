<?xml version="1.0" encoding="UTF-8"?>
<!-- feedsvc: an RSS 2.0 or Atom 1.0 feed as a web page, for browsers that apply XSLT 1.0.
     An enhancement only: every feed also has a plain HTML page at its folder URL, and the
     document's second xml-stylesheet (feed.css) styles the raw XML where XSLT is gone. -->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    exclude-result-prefixes="atom">
<xsl:output method="html" encoding="UTF-8" indent="no" doctype-system="about:legacy-compat"/>

<xsl:variable name="atom" select="boolean(/atom:feed)"/>
<xsl:variable name="self" select="string((/rss/channel/atom:link[@rel='self'] | /atom:feed/atom:link[@rel='self'])[1]/@href)"/>
<xsl:variable name="file">
  <xsl:choose><xsl:when test="$atom">atom.xml</xsl:when><xsl:otherwise>rss.xml</xsl:otherwise></xsl:choose>
</xsl:variable>
<!-- the feed's folder URL: its preview page, and the base of its other formats -->
<xsl:variable name="folder" select="substring($self, 1, string-length($self) - string-length($file))"/>
<xsl:variable name="title" select="string(/rss/channel/title | /atom:feed/atom:title)"/>
<xsl:variable name="months" select="'JanFebMarAprMayJunJulAugSepOctNovDec'"/>

<xsl:template match="/">
<html lang="{normalize-space(/rss/channel/language | /atom:feed/@xml:lang)}">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<meta name="color-scheme" content="light dark"/>
<title><xsl:value-of select="$title"/></title>
<style><xsl:text><![CDATA[
{% include "style.css" %}
]]></xsl:text></style>
</head>
<body>
<main>
<p class="crumbs"><a href="{{ home_url }}">{{ settings.title }}</a> · <a href="{{ home_url }}#feeds">every feed</a></p>
<h1><xsl:value-of select="$title"/></h1>
<p class="lead"><xsl:value-of select="/rss/channel/description | /atom:feed/atom:subtitle"/></p>
<section class="subscribe" aria-label="Subscribe">
<p>This is a web feed: add its address to a feed reader (NetNewsWire, Feedly, Inoreader, Thunderbird…) and new posts come to you as they are published.</p>
<div class="copy"><input type="url" readonly="readonly" value="{$self}" aria-label="Feed address"/><button type="button" data-copy="{$self}" hidden="hidden">Copy</button></div>
<p class="formats">Formats: <a href="{$folder}rss.xml">RSS</a><xsl:text> </xsl:text><a href="{$folder}atom.xml">Atom</a><xsl:text> </xsl:text><a href="{$folder}feed.json">JSON Feed</a></p>
<p class="note">Your browser shows this feed through an XSLT stylesheet, which browsers are phasing out. The same feed as a plain web page: <a href="{$folder}"><xsl:value-of select="$folder"/></a></p>
</section>
<h2>Newest posts</h2>
<ol class="items">
<xsl:apply-templates select="/rss/channel/item | /atom:feed/atom:entry"/>
</ol>
<footer>Served by feedsvc. <a href="{{ opml_url }}">All feeds as OPML</a>, to import into a feed reader in one step.</footer>
</main>
<script><xsl:text><![CDATA[
{% include "enhance.js" %}
]]></xsl:text></script>
</body>
</html>
</xsl:template>

<xsl:template match="item | atom:entry">
<xsl:variable name="summary">
  <xsl:call-template name="text">
    <xsl:with-param name="html" select="string(description | atom:summary)"/>
  </xsl:call-template>
</xsl:variable>
<xsl:variable name="plain" select="normalize-space($summary)"/>
<li>
<h3><a href="{link | atom:link[not(@rel) or @rel='alternate'][1]/@href}"><xsl:value-of select="title | atom:title"/></a></h3>
<xsl:choose>
  <xsl:when test="pubDate">
    <!-- RFC 822 "Sun, 07 Dec 2025 15:37:19 +0000" as 2025-12-07 15:37 UTC -->
    <xsl:variable name="d" select="normalize-space(substring-after(pubDate, ','))"/>
    <xsl:variable name="month" select="(string-length(substring-before($months, substring($d, 4, 3))) div 3) + 1"/>
    <time datetime="{pubDate}"><xsl:value-of select="concat(substring($d, 8, 4), '-', format-number($month, '00'), '-', substring($d, 1, 2), ' ', substring($d, 13, 5), ' ')"/>
      <xsl:call-template name="zone"><xsl:with-param name="zone" select="substring($d, 22)"/></xsl:call-template></time>
  </xsl:when>
  <xsl:otherwise>
    <!-- RFC 3339 "2025-12-07T15:37:19.46+00:00" as 2025-12-07 15:37 UTC -->
    <xsl:variable name="d" select="string(atom:published | atom:updated[not(../atom:published)])"/>
    <time datetime="{$d}"><xsl:value-of select="concat(substring($d, 1, 10), ' ', substring($d, 12, 5), ' ')"/>
      <xsl:call-template name="zone"><xsl:with-param name="zone" select="substring($d, string-length($d) - 5)"/></xsl:call-template></time>
  </xsl:otherwise>
</xsl:choose>
<xsl:if test="$plain">
  <p><xsl:choose>
    <xsl:when test="string-length($plain) &gt; {{ summary_chars }}"><xsl:value-of select="concat(substring($plain, 1, {{ summary_chars - 1 }}), '…')"/></xsl:when>
    <xsl:otherwise><xsl:value-of select="$plain"/></xsl:otherwise>
  </xsl:choose></p>
</xsl:if>
</li>
</xsl:template>

<xsl:template name="zone">
  <xsl:param name="zone"/>
  <xsl:choose>
    <xsl:when test="$zone = '+0000' or $zone = '+00:00' or $zone = 'GMT' or substring($zone, string-length($zone)) = 'Z'">UTC</xsl:when>
    <xsl:otherwise><xsl:value-of select="$zone"/></xsl:otherwise>
  </xsl:choose>
</xsl:template>

<!-- The text of an escaped HTML fragment (RSS description, Atom summary type="html"): tags
     dropped, then the entities the sanitizer writes decoded. No disable-output-escaping:
     the summary is shown as text, never parsed as markup. -->
<xsl:template name="text">
  <xsl:param name="html"/>
  <xsl:choose>
    <xsl:when test="contains($html, '&lt;')">
      <xsl:call-template name="entities"><xsl:with-param name="s" select="substring-before($html, '&lt;')"/></xsl:call-template>
      <xsl:text> </xsl:text>
      <xsl:call-template name="text"><xsl:with-param name="html" select="substring-after(substring-after($html, '&lt;'), '&gt;')"/></xsl:call-template>
    </xsl:when>
    <xsl:otherwise>
      <xsl:call-template name="entities"><xsl:with-param name="s" select="$html"/></xsl:call-template>
    </xsl:otherwise>
  </xsl:choose>
</xsl:template>

<xsl:template name="entities">
  <xsl:param name="s"/>
  <xsl:choose>
    <xsl:when test="contains($s, '&amp;') and contains(substring-after($s, '&amp;'), ';')">
      <xsl:value-of select="substring-before($s, '&amp;')"/>
      <xsl:variable name="rest" select="substring-after($s, '&amp;')"/>
      <xsl:variable name="name" select="substring-before($rest, ';')"/>
      <xsl:choose>
        <xsl:when test="$name = 'amp'">&amp;</xsl:when>
        <xsl:when test="$name = 'lt'">&lt;</xsl:when>
        <xsl:when test="$name = 'gt'">&gt;</xsl:when>
        <xsl:when test="$name = 'quot' or $name = '#34'">"</xsl:when>
        <xsl:when test="$name = '#39' or $name = 'apos'">'</xsl:when>
        <xsl:when test="$name = 'nbsp'">&#160;</xsl:when>
        <xsl:otherwise>&amp;<xsl:value-of select="$name"/>;</xsl:otherwise>
      </xsl:choose>
      <xsl:call-template name="entities"><xsl:with-param name="s" select="substring-after($rest, ';')"/></xsl:call-template>
    </xsl:when>
    <xsl:otherwise><xsl:value-of select="$s"/></xsl:otherwise>
  </xsl:choose>
</xsl:template>
</xsl:stylesheet>
