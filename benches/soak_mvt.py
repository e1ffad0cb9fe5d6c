"""A minimal Mapbox Vector Tile reader for the soak and crash scripts: layer
names and each feature's attributes (geometry is skipped). Standard library
only, independent of tudi's encoder (protobuf wire format by hand)."""


def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf):
    """(field number, wire type, value) of a protobuf message; length-
    delimited values are memoryview slices, fixed ones raw bytes."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(buf, i)
        elif wire == 1:
            v, i = bytes(buf[i:i + 8]), i + 8
        elif wire == 2:
            ln, i = _varint(buf, i)
            v, i = buf[i:i + ln], i + ln
        elif wire == 5:
            v, i = bytes(buf[i:i + 4]), i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield field, wire, v


def _value(buf):
    import struct
    for field, _, v in _fields(buf):
        if field == 1:
            return bytes(v).decode("utf-8")
        if field == 2:
            return struct.unpack("<f", v)[0]
        if field == 3:
            return struct.unpack("<d", v)[0]
        if field in (4, 5):
            return v if field == 5 or v < (1 << 63) else v - (1 << 64)
        if field == 6:
            return (v >> 1) ^ -(v & 1)
        if field == 7:
            return bool(v)
    return None


def _packed(buf):
    out, i = [], 0
    while i < len(buf):
        v, i = _varint(buf, i)
        out.append(v)
    return out


def decode_tile(data):
    """{layer name: [feature attributes as dicts]}"""
    layers = {}
    for field, _, lbuf in _fields(memoryview(data)):
        if field != 3:
            continue
        name, keys, values, feats = None, [], [], []
        for f, _, v in _fields(lbuf):
            if f == 1:
                name = bytes(v).decode("utf-8")
            elif f == 2:
                feats.append(v)
            elif f == 3:
                keys.append(bytes(v).decode("utf-8"))
            elif f == 4:
                values.append(_value(v))
        decoded = []
        for fbuf in feats:
            tags = []
            for f, wire, v in _fields(fbuf):
                if f == 2:
                    tags = _packed(v) if wire == 2 else [v]
            decoded.append({keys[tags[k]]: values[tags[k + 1]] for k in range(0, len(tags) - 1, 2)})
        layers[name] = decoded
    return layers
