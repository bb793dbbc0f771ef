"""Sidecar documents shared by the API tests."""

# Long lines are verbatim sidecar documents.
# ruff: noqa: E501, RUF001

EBUCORE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<ebucore:ebuCoreMain xmlns:ebucore="urn:ebu:metadata-schema:ebucore"
    xmlns:dc="http://purl.org/dc/elements/1.1/">
  <ebucore:coreMetadata>
    <ebucore:title><dc:title xml:lang="kk-Cyrl">Қазақстан: ұлы дала</dc:title></ebucore:title>
    <ebucore:title><dc:title xml:lang="kk-Latn">Qazaqstan: ūly dala</dc:title></ebucore:title>
    <ebucore:alternativeTitle><dc:title>The Great Steppe</dc:title></ebucore:alternativeTitle>
    <ebucore:description>
      <dc:description xml:lang="kk-Cyrl">Дала туралы деректі фильм.</dc:description>
    </ebucore:description>
    <ebucore:language><dc:language>kk</dc:language></ebucore:language>
    <ebucore:type>
      <ebucore:genre typeLabel="Nature"/>
      <ebucore:objectType typeLabel="Series"/>
    </ebucore:type>
    <ebucore:identifier typeLabel="EIDR">
      <dc:identifier>10.5240/7791-8534-2C23-9030-8610-5</dc:identifier>
    </ebucore:identifier>
    <ebucore:identifier typeLabel="House"><dc:identifier>KZ-DOC-7</dc:identifier></ebucore:identifier>
    <ebucore:date><ebucore:created startYear="2021"/></ebucore:date>
    <ebucore:seasonNumber>2</ebucore:seasonNumber>
    <ebucore:episodeNumber>5</ebucore:episodeNumber>
    <ebucore:rights><ebucore:rightsExpression>Not for Kazakhstan before 2027</ebucore:rightsExpression></ebucore:rights>
    <ebucore:contributor>
      <ebucore:contactDetails><ebucore:name>Aruzhan Sain</ebucore:name></ebucore:contactDetails>
      <ebucore:role typeLabel="Director"/>
    </ebucore:contributor>
  </ebucore:coreMetadata>
</ebucore:ebuCoreMain>
"""

BILLION_LAUGHS_XML = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<ebuCoreMain><coreMetadata><title><title>&lol9;</title></title></coreMetadata></ebuCoreMain>"""

# How MAM systems write the same EBUCore document: (namespace, prefix, version, encoding).
# EBUCore 1.8 and 1.10 share one namespace URI; older exports carry the 2012/2014 ones.
EBUCORE_STYLES = {
    "ebucore-1.10": ("urn:ebu:metadata-schema:ebucore", "ebucore", "1.10", "UTF-8"),
    "default-ns-1.8": ("urn:ebu:metadata-schema:ebucore", "", "1.8", "UTF-8"),
    "ebu-2014": ("urn:ebu:metadata-schema:ebuCore_2014", "ebu", "1.6", "UTF-8"),
    "utf16-bom": ("urn:ebu:metadata-schema:ebucore", "ebucore", "1.10", "UTF-16"),
    "windows-1254": ("urn:ebu:metadata-schema:ebucore", "ebucore", "1.10", "windows-1254"),
}

MAM_EBUCORE_TEMPLATE = """<?xml version="1.0" encoding="{encoding}"?>
<{p}ebuCoreMain xmlns{colon_prefix}="{ns}" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:schemaLocation="{ns} https://www.ebu.ch/metadata/schemas/EBUCore/ebucore.xsd"
    version="{version}" dateLastModified="2024-05-14" timeLastModified="10:21:07Z">
  <{p}coreMetadata>
    <{p}title typeLabel="Working title"><dc:title xml:lang="tr">Gölge (çalışma adı)</dc:title></{p}title>
    <{p}title typeLabel="Original title" typeLink="http://www.ebu.ch/metadata/cs/ebu_TitleTypeCodeCS.xml#1">
      <dc:title xml:lang="tr">Gölge</dc:title>
    </{p}title>
    <{p}title typeLabel="Translated title" xml:lang="en"><dc:title>Shadow</dc:title></{p}title>
    <{p}alternativeTitle typeLabel="Series title"><dc:title xml:lang="tr">Işık ve Gölge</dc:title></{p}alternativeTitle>
    <{p}creator>
      <{p}organisationDetails><{p}organisationName>Ankara Yapım</{p}organisationName></{p}organisationDetails>
      <{p}role typeLabel="Production company"/>
    </{p}creator>
    <{p}subject typeLabel="Keyword"><dc:subject xml:lang="tr">aile</dc:subject></{p}subject>
    <{p}description typeLabel="Synopsis">
      <dc:description xml:lang="tr">Şehrin ışıkları söndüğünde iki kardeş yeniden karşılaşır.</dc:description>
    </{p}description>
    <{p}description typeLabel="Synopsis" xml:lang="en">
      <dc:description>When the city lights go out, two brothers meet again.</dc:description>
    </{p}description>
    <{p}contributor>
      <{p}contactDetails><{p}givenName>Ayşe</{p}givenName><{p}familyName>Yıldız</{p}familyName></{p}contactDetails>
      <{p}role typeLabel="Director" typeLink="http://www.ebu.ch/metadata/cs/ebu_RoleCodeCS.xml#20.9"/>
    </{p}contributor>
    <{p}contributor>
      <{p}contactDetails><{p}name>Mehmet Öz</{p}name></{p}contactDetails>
      <{p}role typeLabel="Actor"/>
    </{p}contributor>
    <{p}date><{p}created startDate="2023-04-01"/></{p}date>
    <{p}type>
      <{p}genre typeLabel="Drama" typeLink="http://www.ebu.ch/metadata/cs/ebu_ContentGenreCS.xml#3.4.6"/>
      <{p}objectType typeLabel="Episode" typeLink="http://www.ebu.ch/metadata/cs/ebu_ObjectTypeCodeCS.xml#6"/>
    </{p}type>
    <{p}format>
      <{p}duration><{p}normalPlayTime>PT52M10S</{p}normalPlayTime></{p}duration>
      <{p}videoFormat videoFormatName="XDCAM HD422"><{p}width unit="pixel">1920</{p}width></{p}videoFormat>
    </{p}format>
    <{p}identifier typeLabel="House number" formatLabel="TRT"><dc:identifier>TRT-GOLGE-0107</dc:identifier></{p}identifier>
    <{p}identifier typeLabel="EIDR"><dc:identifier>10.5240/7791-8534-2C23-9030-8610-5</dc:identifier></{p}identifier>
    <{p}language typeLabel="Dubbed"><dc:language>ru</dc:language></{p}language>
    <{p}language typeLabel="Original language"><dc:language>tr</dc:language></{p}language>
    <{p}rights typeLabel="Usage"><dc:rights xml:lang="en">Not for Turkey before 2026</dc:rights></{p}rights>
    <{p}seasonNumber>1</{p}seasonNumber>
    <{p}episodeNumber>7</{p}episodeNumber>
    <{p}part partName="Act 1"><{p}title><dc:title>Birinci perde</dc:title></{p}title></{p}part>
  </{p}coreMetadata>
</{p}ebuCoreMain>
"""


def mam_ebucore(style: str) -> bytes:
    """A Turkish serial episode as a MAM exports it, in one of `EBUCORE_STYLES`."""
    ns, prefix, version, encoding = EBUCORE_STYLES[style]
    text = MAM_EBUCORE_TEMPLATE.format(
        encoding=encoding,
        p=f"{prefix}:" if prefix else "",
        colon_prefix=f":{prefix}" if prefix else "",
        ns=ns,
        version=version,
    )
    # Python's "utf-16" writes the byte order mark, as Windows tools do.
    return text.encode(encoding.lower())
