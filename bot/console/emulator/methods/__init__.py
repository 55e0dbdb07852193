"""The Web API methods the emulator answers, one mixin per family, each a base of
SlackEmulator (bot/console/emulator/__init__.py, which holds the method table):

- auth.py: api.test, auth.test
- users.py: users.info, users.list, usergroups.list, usergroups.users.list
- chat.py: chat.postMessage, chat.update, chat.delete, chat.postEphemeral, chat.getPermalink
- conversations.py: conversations.open, conversations.info, conversations.history,
  conversations.replies
- views.py: views.open, views.push, views.update, views.publish
- files.py: files.getUploadURLExternal, files.completeUploadExternal

Each method takes the request's Args and returns the answer body; the caller holds the lock.
oauth.v2.access is in bot/console/emulator/oauth.py, apps.connections.open in
bot/console/emulator/socket_mode.py.
"""
