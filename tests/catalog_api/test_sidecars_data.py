"""Sidecar documents shared by the API tests."""

# Long lines are verbatim sidecar documents.
# ruff: noqa: E501

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
